import AdvNN

/// Backward Pass Differentiable Approximation (Athalye, Carlini & Wagner 2018, arXiv:1802.00420):
/// the forward pass goes through the real, non-differentiable defense; the backward pass treats the
/// defense as the identity (its differentiable approximation when g(x) ≈ x). Any gradient attack
/// composes with it: `PGD(...).perturb(x, labels: y, against: BPDA(defended), ...)`.
public final class BPDA: Classifier {
    public let defended: DefendedClassifier

    public init(_ defended: DefendedClassifier) {
        self.defended = defended
    }

    public var classCount: Int { defended.classCount }

    public func logits(_ inputs: Tensor) -> Tensor {
        defended.logits(inputs)
    }

    public func lossGradient(_ inputs: Tensor, labels: [Int], loss: any LabelLoss, into gradient: Tensor) -> LossEvaluation {
        defended.lossGradientThroughIdentity(inputs, labels: labels, loss: loss, into: gradient)
    }
}
