import Foundation

/// What a run records about each finished epoch.
public struct EpochMetrics: Codable, Sendable, Equatable {
    /// 1-based epoch number.
    public var epoch: Int
    /// Mean training loss over the epoch's batches, weighted by batch size.
    public var trainLoss: Double
    /// Fraction of training examples classified correctly while training (before each update).
    public var trainAccuracy: Double
    /// Clean accuracy on the validation split (its first `evaluationExamples`) after the epoch; nil when
    /// the dataset has no validation split. Never measured on test data.
    public var validationAccuracy: Double?
    /// Robust accuracy on the first `Trainer.heldOutExamples` validation examples after the epoch, when
    /// the run measures it (`Trainer.heldOutProbe`; advd run: PGD-10 under the threat model).
    public var heldOutRobustAccuracy: Double?
    /// The learning rate of the epoch's last step.
    public var learningRate: Float
    /// Wall time of the epoch's training steps, in seconds (evaluation excluded).
    public var seconds: Double
    /// Training throughput over the epoch.
    public var samplesPerSecond: Double

    public init(epoch: Int, trainLoss: Double, trainAccuracy: Double, validationAccuracy: Double?, heldOutRobustAccuracy: Double?,
                learningRate: Float, seconds: Double, samplesPerSecond: Double) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.validationAccuracy = validationAccuracy
        self.heldOutRobustAccuracy = heldOutRobustAccuracy
        self.learningRate = learningRate
        self.seconds = seconds
        self.samplesPerSecond = samplesPerSecond
    }
}

extension EpochMetrics {
    /// One line for logs and terminals: loss, training and validation accuracy, validation PGD-10
    /// accuracy when measured, seconds.
    public func summary(separator: String) -> String {
        var parts = [String(format: "loss %.4f", trainLoss), String(format: "train acc %.2f%%", trainAccuracy * 100)]
        if let validationAccuracy { parts.append(String(format: "validation acc %.2f%%", validationAccuracy * 100)) }
        if let heldOutRobustAccuracy { parts.append(String(format: "validation PGD-10 acc %.2f%%", heldOutRobustAccuracy * 100)) }
        parts.append(String(format: "%.1f s", seconds))
        return parts.joined(separator: separator)
    }
}

/// Where a run stands: everything besides tensors that a resumed run needs to continue exactly.
public struct TrainingCursor: Codable, Sendable, Equatable {
    /// Optimisation steps completed; the epoch and the position in it follow from it.
    public var step = 0
    /// Running sums of the epoch in progress.
    public var epochLossSum = 0.0
    public var epochCorrect = 0
    public var epochSeen = 0
    public var epochSeconds = 0.0
    /// Finished epochs.
    public var history: [EpochMetrics] = []
    /// The training stream's state (random starts, augmentation: any draw a method makes).
    public var trainingRandomState: [UInt64] = []
    /// The training method's name, checked on resume.
    public var method = ""
    /// Why the run stopped before its last epoch (fast AT's overfitting guard), if it did.
    public var stoppedEarly: String?
}

/// A progress report from a running `Trainer`.
public struct TrainingProgress: Sendable {
    public enum Event: Sendable {
        /// Reported every few steps.
        case step
        /// An epoch finished; its metrics.
        case epochEnd(EpochMetrics)
        /// A checkpoint was written at this path.
        case checkpoint(String)
    }

    public var event: Event
    /// 1-based epoch and the number of epochs.
    public var epoch: Int
    public var epochs: Int
    /// Steps done in this epoch and steps per epoch.
    public var stepInEpoch: Int
    public var stepsPerEpoch: Int
    /// Mean loss and accuracy of the epoch so far.
    public var loss: Double
    public var accuracy: Double
    /// Training throughput of the epoch so far.
    public var samplesPerSecond: Double
    public var learningRate: Float
}

extension TrainingProgress {
    /// One line for terminals: `epoch 2/10 step 120/469  loss 0.4312  acc 84.20%  2310 samples/s`.
    public var stepSummary: String {
        String(format: "epoch %d/%d step %d/%d  loss %.4f  acc %.2f%%  %.0f samples/s", epoch, epochs, stepInEpoch, stepsPerEpoch,
               loss, accuracy * 100, samplesPerSecond)
    }
}
