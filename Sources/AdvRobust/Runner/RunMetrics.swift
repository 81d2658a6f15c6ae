import AdvNN
import Foundation

/// `metrics.json`: everything a run did and found, with the configuration echoed (defaults filled in).
public struct RunMetrics: Codable, Sendable, Equatable {
    public var advdVersion: String
    public var manifest: ExperimentManifest
    public var model: ModelSpec
    public var dataset: DatasetSummary
    /// Per-epoch training metrics (empty when the model was loaded, not trained).
    public var epochs: [EpochMetrics]
    /// Why training stopped before its last epoch (fast AT's overfitting guard), if it did.
    public var trainingStoppedEarly: String?
    /// Robust self-training's pool and teacher, when the run used them.
    public var selfTraining: SelfTrainingSummary?
    public var evaluation: EvaluationReport
    /// The example images report.html shows (empty when the inputs are not images).
    public var examples: [ExampleImage]
    public var timings: Timings
    public var threads: Int
    /// The processor, BLAS library and kernel that produced these numbers.
    public var machine: ComputeProvenance

    /// Pretty, key-sorted JSON.
    public func json() -> String {
        JSONCoding.encode(self, pretty: true) + "\n"
    }
}

public struct DatasetSummary: Codable, Sendable, Equatable {
    public var name: String
    /// Examples trained on (the validation examples are not among them).
    public var trainExamples: Int
    /// Examples held out of the training split for per-epoch measurements (`dataset.validation_examples`).
    public var validationExamples: Int
    public var testExamples: Int
    public var classes: [String]
}

/// Where a run's time went. A run stopped and resumed counts what every process recorded in training
/// and evaluation; only `totalSeconds` is the last process's alone.
public struct Timings: Codable, Sendable, Equatable {
    /// The epochs' seconds, summed over every process that trained (from the training records).
    public var trainingSeconds: Double
    /// The evaluation's seconds: the attacks earlier processes recorded in the evaluation state, plus
    /// this process's from the end of training to the written results (sanity checks included).
    public var evaluationSeconds: Double
    /// The wall time of the process that finished the run, from its start to the written results.
    public var totalSeconds: Double

    public init(trainingSeconds: Double, evaluationSeconds: Double, totalSeconds: Double) {
        self.trainingSeconds = trainingSeconds
        self.evaluationSeconds = evaluationSeconds
        self.totalSeconds = totalSeconds
    }
}

extension RunMetrics {
    /// Which weights the evaluation attacked, for the reports; nil when they are the last trained ones.
    public var evaluatedWeightsNote: String? {
        guard let averaging = manifest.train?.weightAveraging else { return nil }
        return "The evaluated model is the exponential moving average of the trained weights (decay \(averaging.decay)): "
            + "the validation columns measure the average, the loss and train accuracy the weights being trained."
    }
}
