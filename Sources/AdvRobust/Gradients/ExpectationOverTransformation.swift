import AdvNN

/// Expectation over Transformation (Athalye et al. 2018, "Synthesizing Robust Adversarial Examples"):
/// the loss gradient averaged over `samples` draws of a randomised classifier's randomness, an unbiased
/// estimate of the gradient of the expected loss. Composes with every gradient attack and with BPDA
/// (`ExpectationOverTransformation(BPDA(defended), samples: 16)`), as AutoAttack's `eot_iter` does.
public final class ExpectationOverTransformation: Classifier {
    public let inner: any Classifier
    public let samples: Int
    private let sample = Tensor(zeros: Shape(0))

    public init(_ inner: any Classifier, samples: Int) {
        precondition(samples >= 1, "EOT needs at least one sample, got \(samples)")
        self.inner = inner
        self.samples = samples
    }

    public var classCount: Int { inner.classCount }

    public func logits(_ inputs: Tensor) -> Tensor {
        inner.logits(inputs)
    }

    /// The averaged gradient; the losses are averaged too, and the predictions are those of the last draw.
    public func lossGradient(_ inputs: Tensor, labels: [Int], loss: any LabelLoss, into gradient: Tensor) -> LossEvaluation {
        gradient.resize(to: inputs.shape)
        gradient.zero()
        var losses = [Float](repeating: 0, count: labels.count), predictions: [Int] = []
        let scale = 1 / Float(samples)
        for _ in 0..<samples {
            let drawn = inner.lossGradient(inputs, labels: labels, loss: loss, into: sample)
            for i in 0..<gradient.count { gradient[i] += sample[i] * scale }
            for n in 0..<losses.count { losses[n] += drawn.losses[n] * scale }
            predictions = drawn.predictions
        }
        return LossEvaluation(losses: losses, predictions: predictions)
    }
}
