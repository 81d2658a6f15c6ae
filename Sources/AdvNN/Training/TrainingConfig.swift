/// The settings of a training run. Every field has a default, so a configuration states only what
/// differs; the defaults are a sound recipe for the MLP on Fashion-MNIST.
public struct TrainingConfig: Codable, Sendable, Equatable {
    /// Passes over the training split.
    public var epochs = 10
    /// Examples per optimisation step; the last batch of an epoch may be smaller.
    public var batchSize = 128
    /// The optimiser and its hyperparameters.
    public var optimizer = OptimizerConfig()
    /// How the learning rate moves over the run.
    public var schedule = LearningRateSchedule.cosine(minimum: 0)
    /// The run's seed: initialisation, shuffling and every other random draw derive from it.
    public var seed: UInt64 = 0
    /// Write a resumable checkpoint every this many steps (also at the end of every epoch); nil: epoch ends only.
    public var checkpointEverySteps: Int?
    /// Measure clean accuracy on the first this many validation examples after each epoch; nil: all of them.
    public var evaluationExamples: Int?
    /// Indices of the model's layers whose parameters stay fixed (fine-tuning); nil: train everything.
    public var frozenLayers: [Int]?
    /// Robust self-training: how batches of the pseudo-labelled pool mix with labelled ones; nil: no pool.
    public var pseudoLabeled: PseudoLabelMixing?
    /// Keep a moving average of the weights and report it as the trained model; nil: the last weights.
    public var weightAveraging: WeightAveraging?
    /// Random crops and flips of the training images; nil: the images as they are.
    public var augmentation: ImageAugmentation?

    public init() {}

    /// Checks the values; the message names the field.
    public func validate() throws {
        func fail(_ message: String) throws -> Never { throw TrainingError(message) }
        if epochs < 1 { try fail("epochs must be at least 1, got \(epochs)") }
        if batchSize < 1 { try fail("batchSize must be at least 1, got \(batchSize)") }
        if let every = checkpointEverySteps, every < 1 { try fail("checkpointEverySteps must be at least 1, got \(every)") }
        if let count = evaluationExamples, count < 1 { try fail("evaluationExamples must be at least 1, got \(count)") }
        try optimizer.validate()
        try pseudoLabeled?.validate()
        try weightAveraging?.validate()
    }
}

/// Which optimiser to use and its hyperparameters (PyTorch's names and defaults).
public struct OptimizerConfig: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case sgd, adam, adamw }
    public var kind = Kind.sgd
    /// The base (for schedules: maximum) learning rate.
    public var learningRate: Float = 0.05
    /// SGD momentum μ.
    public var momentum: Float = 0.9
    /// SGD: use Nesterov momentum.
    public var nesterov = false
    /// L2 penalty (SGD, Adam) or decoupled decay (AdamW).
    public var weightDecay: Float = 0
    /// Adam's β₁ and β₂.
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999

    public init() {}

    public func validate() throws {
        guard learningRate > 0, learningRate.isFinite else { throw TrainingError("learningRate must be positive, got \(learningRate)") }
        guard momentum >= 0, momentum < 1 else { throw TrainingError("momentum must be in [0, 1), got \(momentum)") }
        guard weightDecay >= 0 else { throw TrainingError("weightDecay must not be negative, got \(weightDecay)") }
        guard beta1 >= 0, beta1 < 1, beta2 >= 0, beta2 < 1 else { throw TrainingError("Adam betas must be in [0, 1)") }
        if nesterov && (kind != .sgd || momentum == 0) { throw TrainingError("nesterov needs the sgd optimizer with momentum > 0") }
    }

    /// Builds the optimiser over `parameters`.
    public func make(for parameters: [(name: String, parameter: Parameter)]) -> any Optimizer {
        switch kind {
        case .sgd:
            return SGD(parameters: parameters, learningRate: learningRate, momentum: momentum,
                       weightDecay: weightDecay, nesterov: nesterov)
        case .adam, .adamw:
            return Adam(parameters: parameters, learningRate: learningRate, beta1: beta1, beta2: beta2,
                        weightDecay: weightDecay, decoupled: kind == .adamw)
        }
    }
}

/// A training run that cannot start or continue; the message says why.
public struct TrainingError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
