/// Semi-supervised robust self-training (Carmon et al. 2019, "Unlabeled Data Improves Adversarial
/// Robustness"): a standard model trained on the labelled examples (the teacher) labels an unlabelled
/// pool, and adversarial training then mixes batches of these pseudo-labelled examples with labelled
/// ones (AdvNN's `PseudoLabelMixing` says how).
import AdvNN
import Foundation

/// The manifest's `train.self_training` section (ratio and weight live in `TrainingConfig.pseudoLabeled`).
public struct SelfTrainingSpec: Codable, Sendable, Equatable {
    /// Where the unlabelled pool comes from.
    public enum Pool: Codable, Sendable, Equatable {
        /// The dataset's training examples `from..<from + count` (count nil: all the rest), labels ignored.
        case trainingSplit(from: Int, count: Int?)
        /// An IDX image file (MNIST layout, optionally gzip-compressed) of unlabelled images.
        case images(path: String)
    }

    public var pool: Pool
    /// Epochs of standard training for the teacher (the run's optimiser, batch and schedule).
    public var teacherEpochs: Int
    /// A `model.safetensors` to pseudo-label with instead of training a teacher.
    public var teacherWeights: String?

    public init(pool: Pool, teacherEpochs: Int = 10, teacherWeights: String? = nil) {
        self.pool = pool
        self.teacherEpochs = teacherEpochs
        self.teacherWeights = teacherWeights
    }

    /// Training examples a synthetic dataset must draw so that the pool exists.
    var trainingExamplesNeeded: Int {
        if case .trainingSplit(let from, let count?) = pool { return from + count }
        return 0
    }

    /// The pool's images, labels not yet assigned.
    /// - Parameter fullTraining: the dataset's whole training split, before `train_examples` trimmed it.
    /// - Throws: `DatasetError` or `RunError` naming the file or the empty range.
    func unlabeledImages(fullTraining: DataSplit, datasetName: String) throws -> DataSplit {
        switch pool {
        case .trainingSplit(let from, let count):
            let upper = min(count.map { from + $0 } ?? fullTraining.count, fullTraining.count)
            guard from < upper else {
                throw RunError("self_training.pool: \(datasetName) has \(fullTraining.count) training examples, none from \(from) on; lower dataset.train_examples (the labelled part) to leave some for the pool")
            }
            let size = fullTraining.itemSize
            return DataSplit(inputs: Array(fullTraining.inputs[from * size..<upper * size]),
                             labels: Array(repeating: 0, count: upper - from), itemShape: fullTraining.itemShape)
        case .images(let path):
            return try IDXReader.loadImages(path)
        }
    }
}

/// What self-training did before adversarial training, recorded in metrics.json and the report.
public struct SelfTrainingSummary: Codable, Sendable, Equatable {
    public var poolExamples: Int
    /// The teacher's clean accuracy on the validation split (the test split is kept for the final evaluation).
    public var teacherValidationAccuracy: Double
    /// How many pseudo-labels equal the true labels (known only when the pool is part of a labelled split).
    public var pseudoLabelAccuracy: Double?
    /// Fraction of the pool the teacher put in each class.
    public var pseudoLabelClassShares: [Double]
}

/// The teacher's labels for every pool example: its predicted class, in evaluation mode.
public func pseudoLabels(of pool: DataSplit, by teacher: Sequential, batchSize: Int = 500) -> [Int] {
    let wasTraining = teacher.isTraining
    teacher.isTraining = false
    defer { teacher.isTraining = wasTraining }
    var labels: [Int] = []
    labels.reserveCapacity(pool.count)
    for start in stride(from: 0, to: pool.count, by: batchSize) {
        let logits = teacher.forward(pool.batch(start..<min(start + batchSize, pool.count)).inputs)
        for row in 0..<logits.shape[0] { labels.append(Metrics.predictedClass(logits: logits, row: row)) }
    }
    return labels
}
