import AdvNN

/// What attacks see of a model: logits, and the gradient of a loss with respect to the inputs.
/// Defenses wrap a classifier in another; BPDA and EOT change how the gradient is estimated.
public protocol Classifier: AnyObject {
    /// The number of classes.
    var classCount: Int { get }

    /// Logits (N, K) for `inputs` (N, …). The tensor is valid until the next call.
    func logits(_ inputs: Tensor) -> Tensor

    /// The gradient of the *summed* loss with respect to `inputs`, written into `gradient` (resized to
    /// the inputs' shape), with the model's parameters frozen.
    /// - Returns: every example's loss and the class the same forward pass predicted.
    func lossGradient(_ inputs: Tensor, labels: [Int], loss: any LabelLoss, into gradient: Tensor) -> LossEvaluation
}

/// What one forward and backward pass of an attack step learned about each example.
public struct LossEvaluation {
    /// Every example's loss.
    public var losses: [Float]
    /// The class the forward pass predicted for every example.
    public var predictions: [Int]

    public init(losses: [Float], predictions: [Int]) {
        self.losses = losses
        self.predictions = predictions
    }
}

extension Classifier {
    /// The predicted class of every example.
    public func predictions(_ inputs: Tensor) -> [Int] {
        let z = logits(inputs)
        return (0..<inputs.shape.batchSize).map { Metrics.predictedClass(logits: z, row: $0) }
    }
}

/// A trained network as attacks see it: always in evaluation mode (running statistics), so attacking
/// it never changes it, and backward passes compute input gradients only.
public final class ModelClassifier: Classifier {
    public let model: Sequential
    public let classCount: Int
    private let dLogits = Tensor(zeros: Shape(0, 0))

    public init(_ model: Sequential, classCount: Int) {
        self.model = model
        self.classCount = classCount
        model.isTraining = false
    }

    /// Inference (`Sequential.infer`): no backward follows these logits.
    public func logits(_ inputs: Tensor) -> Tensor {
        model.infer(inputs)
    }

    public func lossGradient(_ inputs: Tensor, labels: [Int], loss: any LabelLoss, into gradient: Tensor) -> LossEvaluation {
        var losses = [Float](repeating: 0, count: labels.count)
        let z = model.forward(inputs)
        let predictions = (0..<labels.count).map { Metrics.predictedClass(logits: z, row: $0) }
        losses.withUnsafeMutableBufferPointer {
            _ = loss.compute(logits: z, labels: labels, reduction: .sum, gradient: dLogits, perExample: $0.baseAddress)
        }
        guard let dInput = model.backward(dLogits, request: .inputOnly) else {
            preconditionFailure("an input-only backward pass returns the input gradient")
        }
        gradient.assign(dInput)
        return LossEvaluation(losses: losses, predictions: predictions)
    }
}
