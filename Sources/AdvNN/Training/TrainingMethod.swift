/// What one optimisation step does with a batch. Standard training is one method; the adversarial
/// training methods plug in here and share the loop, checkpoints and progress reports of `Trainer`.
public protocol TrainingMethod {
    /// A short name recorded in checkpoints (`standard`, `pgd-at`, …).
    var name: String { get }

    /// Forward-backward passes through the model per training example and step (1 for standard
    /// training, the attack's steps + 1 for PGD-AT): what a progress estimate weighs epochs by.
    var passesPerExample: Int { get }

    /// Computes gradients for one batch and applies `optimizer.step()`.
    /// - Parameters:
    ///   - inputs: (N, item shape…); labels: N classes.
    ///   - rng: the run's training stream, for any random draws the method makes.
    ///   - position: how far training has come (for schedules such as an ε warm-up).
    /// - Returns: the batch's mean training loss and how many examples the model classified correctly.
    mutating func step(model: Sequential, inputs: Tensor, labels: [Int], optimizer: any Optimizer,
                       rng: inout RandomStream, position: TrainingPosition) -> StepResult

    /// Tensors the method carries from step to step (free AT's perturbation), saved in checkpoints as
    /// `method.<name>` and restored on resume (resized to the saved shape).
    var namedState: [(name: String, tensor: Tensor)] { get }

    /// Called after every epoch. `heldOut` gathers a held-out batch (the first validation examples,
    /// never trained on; empty when the dataset has none) only for a method that asks for it. A method that watches for trouble (fast AT's
    /// catastrophic overfitting) may restore earlier weights into `model` and ask the run to stop.
    /// - Returns: nil to go on, or the reason to stop.
    mutating func endEpoch(_ epoch: Int, model: Sequential, heldOut: () -> (inputs: Tensor, labels: [Int]),
                           rng: inout RandomStream) -> String?
}

extension TrainingMethod {
    public var passesPerExample: Int { 1 }
    public var namedState: [(name: String, tensor: Tensor)] { [] }
    public mutating func endEpoch(_ epoch: Int, model: Sequential, heldOut: () -> (inputs: Tensor, labels: [Int]),
                                  rng: inout RandomStream) -> String? { nil }
}

/// Where a training step falls in the run, and which examples its batch holds.
public struct TrainingPosition: Sendable {
    /// Epochs completed so far, fractional (2.5: halfway through the third epoch).
    public var epoch: Double
    public var totalEpochs: Int
    /// Each batch example's index among the run's `exampleCount` examples: the training split's from 0,
    /// then the pseudo-labelled pool's (a method that remembers something per example keys it by these).
    /// Empty where the caller does not say (benchmarks stepping a method by hand).
    public var examples: [Int]
    /// How many examples the run trains on: the training split and the pseudo-labelled pool.
    public var exampleCount: Int
    /// How each batch example is seen when the run augments its images (the batch holds these views);
    /// empty: as it is. A method that remembers something per example in image coordinates maps it
    /// through these.
    public var views: [ImageAugmentation.View]

    public init(epoch: Double, totalEpochs: Int, examples: [Int] = [], exampleCount: Int = 0, views: [ImageAugmentation.View] = []) {
        self.epoch = epoch
        self.totalEpochs = totalEpochs
        self.examples = examples
        self.exampleCount = exampleCount
        self.views = views
    }
}

/// The outcome of one training step.
public struct StepResult: Sendable {
    public var loss: Float
    public var correct: Int
    public init(loss: Float, correct: Int) {
        self.loss = loss
        self.correct = correct
    }
}

/// Empirical risk minimisation: mean softmax cross-entropy on the clean batch.
public struct StandardTraining: TrainingMethod {
    public let name = "standard"
    private let dLogits = Tensor(zeros: Shape(0, 0))

    public init() {}

    public mutating func step(model: Sequential, inputs: Tensor, labels: [Int], optimizer: any Optimizer,
                              rng: inout RandomStream, position: TrainingPosition) -> StepResult {
        optimizer.zeroGradients()
        let logits = model.forward(inputs)
        let loss = CrossEntropy().compute(logits: logits, labels: labels, reduction: .mean, gradient: dLogits, perExample: nil)
        let correct = Metrics.correctCount(logits: logits, labels: labels)
        // The first layer's input gradient is never needed for training: skip it.
        _ = model.backward(dLogits, request: .parametersOnly)
        optimizer.step()
        return StepResult(loss: loss, correct: correct)
    }
}
