import AdvNN

/// A classifier behind an input defense: logits(x) = model(defense(x)), with the defense's randomness
/// drawn from its own seeded stream, so that evaluations are reproducible.
///
/// Its `lossGradient` is the honest derivative of that composition — zero through quantisation, one
/// random draw through a randomised defense. That is what a naive attack sees; wrap it in `BPDA` and
/// `ExpectationOverTransformation` to attack it adaptively.
public final class DefendedClassifier: Classifier {
    public let base: any Classifier
    public let defense: any InputDefense
    private var defenseRandom: RandomStream
    private let transformed = Tensor(zeros: Shape(0))
    private let dTransformed = Tensor(zeros: Shape(0))

    public init(_ base: any Classifier, defense: any InputDefense, seed: UInt64) {
        self.base = base
        self.defense = defense
        defenseRandom = RandomStream(seed: seed, purpose: "defense")
    }

    public var classCount: Int { base.classCount }

    /// Applies the defense with a fresh draw of its randomness; the result is valid until the next call.
    public func transform(_ inputs: Tensor) -> Tensor {
        defense.apply(inputs, into: transformed, rng: &defenseRandom)
        return transformed
    }

    public func logits(_ inputs: Tensor) -> Tensor {
        base.logits(transform(inputs))
    }

    public func lossGradient(_ inputs: Tensor, labels: [Int], loss: any LabelLoss, into gradient: Tensor) -> LossEvaluation {
        let evaluation = base.lossGradient(transform(inputs), labels: labels, loss: loss, into: dTransformed)
        defense.backward(dTransformed, into: gradient)
        return evaluation
    }

    /// The gradient at the defended point passed straight through the defense (BPDA with the identity):
    /// what `BPDA` uses.
    func lossGradientThroughIdentity(_ inputs: Tensor, labels: [Int], loss: any LabelLoss, into gradient: Tensor) -> LossEvaluation {
        base.lossGradient(transform(inputs), labels: labels, loss: loss, into: gradient)
    }
}
