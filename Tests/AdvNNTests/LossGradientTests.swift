import AdvNN
import Foundation
import Testing

/// Every loss's gradient with respect to the logits against finite differences, plus hand-computed values.
@Suite struct LossGradientTests {
    static let labels = [2, 0, 4, 1]

    static func randomLogits(seed: UInt64) -> Tensor {
        var rng = RandomStream(seed: seed)
        let logits = Tensor(zeros: Shape(4, 5))
        GradientCheck.fillDistinct(logits, rng: &rng, spacing: 0.3)
        return logits
    }

    static func check(_ loss: some LabelLoss, labels: [Int] = labels, seed: UInt64,
                      sourceLocation: SourceLocation = #_sourceLocation) {
        let logits = randomLogits(seed: seed)
        for reduction in [Reduction.mean, .sum] {
            let gradient = Tensor(zeros: logits.shape)
            _ = loss.compute(logits: logits, labels: labels, reduction: reduction, gradient: gradient, perExample: nil)
            let numeric = GradientCheck.numericGradient(of: logits, step: 1e-2) {
                Double(loss.compute(logits: logits, labels: labels, reduction: reduction, gradient: nil, perExample: nil))
            }
            GradientCheck.expectClose(gradient.scalars, numeric, tolerance: 1e-2, "\(type(of: loss)) \(reduction)",
                                      sourceLocation: sourceLocation)
        }
    }

    @Test func crossEntropyGradient() { Self.check(CrossEntropy(), seed: 1) }

    @Test func crossEntropyKnownValue() {
        // logits (0, ln 3): p = (1/4, 3/4); −log p₁ = log 4/3, −log p₀ = log 4
        let logits = Tensor(shape: Shape(2, 2), scalars: [0, Float(log(3.0)), 0, Float(log(3.0))])
        var perExample = [Float](repeating: 0, count: 2)
        let mean = perExample.withUnsafeMutableBufferPointer {
            CrossEntropy().compute(logits: logits, labels: [1, 0], reduction: .mean, gradient: nil, perExample: $0.baseAddress)
        }
        #expect(abs(perExample[0] - Float(log(4.0 / 3))) < 1e-6)
        #expect(abs(perExample[1] - Float(log(4.0))) < 1e-6)
        #expect(abs(mean - Float((log(4.0 / 3) + log(4.0)) / 2)) < 1e-6)
    }

    @Test func crossEntropyIsStableForHugeLogits() {
        let logits = Tensor(shape: Shape(1, 3), scalars: [1000, 0, -1000])
        let loss = CrossEntropy().value(logits: logits, labels: [1])
        #expect(abs(loss - 1000) < 1e-3)
    }

    @Test(arguments: [Float(0), 0.5, 50])
    func carliniWagnerGradient(confidence: Float) {
        Self.check(CarliniWagnerMargin(confidence: confidence), seed: 2)
        Self.check(CarliniWagnerMargin(confidence: confidence, isTargeted: true), seed: 3)
    }

    @Test func carliniWagnerKnownValues() {
        let logits = Tensor(shape: Shape(1, 3), scalars: [1, 3, 2])
        // untargeted, label 0: max other = 3, margin = 3 − 1 = 2, capped at κ = 1.5
        #expect(CarliniWagnerMargin(confidence: 10).value(logits: logits, labels: [0]) == 2)
        #expect(CarliniWagnerMargin(confidence: 1.5).value(logits: logits, labels: [0]) == 1.5)
        // targeted at class 2: z₂ − max other = 2 − 3 = −1
        #expect(CarliniWagnerMargin(confidence: 10, isTargeted: true).value(logits: logits, labels: [2]) == -1)
    }

    @Test func dlrGradient() {
        Self.check(DifferenceOfLogitsRatio(), seed: 4)
        Self.check(DifferenceOfLogitsRatio(targets: [3, 1, 0, 4]), seed: 5)
    }

    @Test func dlrKnownValue() {
        // sorted logits 4, 3, 1, 0; label 1 (z = 3) is not the top: −(3 − 4)/(4 − 1) = 1/3
        let logits = Tensor(shape: Shape(1, 4), scalars: [1, 3, 4, 0])
        #expect(abs(DifferenceOfLogitsRatio().value(logits: logits, labels: [1]) - 1.0 / 3) < 1e-6)
        // invariant to shift and positive scale
        let moved = Tensor(shape: Shape(1, 4), scalars: [1, 3, 4, 0].map { 7 * $0 - 5 })
        #expect(abs(DifferenceOfLogitsRatio().value(logits: moved, labels: [1]) - 1.0 / 3) < 1e-6)
    }

    @Test func klGradients() {
        let reference = Self.randomLogits(seed: 6), other = Self.randomLogits(seed: 7)
        let kl = KLDivergence()
        for reduction in [Reduction.mean, .sum] {
            let gReference = Tensor(zeros: reference.shape), gOther = Tensor(zeros: other.shape)
            _ = kl.compute(reference: reference, other: other, reduction: reduction,
                           gradientReference: gReference, gradientOther: gOther)
            let value = { Double(kl.compute(reference: reference, other: other, reduction: reduction)) }
            GradientCheck.expectClose(gReference.scalars, GradientCheck.numericGradient(of: reference, step: 1e-2, loss: value),
                                      tolerance: 1e-2, "KL d reference")
            GradientCheck.expectClose(gOther.scalars, GradientCheck.numericGradient(of: other, step: 1e-2, loss: value),
                                      tolerance: 1e-2, "KL d other")
        }
    }

    @Test func klOfIdenticalDistributionsIsZero() {
        let logits = Self.randomLogits(seed: 8)
        #expect(abs(KLDivergence().compute(reference: logits, other: logits, reduction: .sum)) < 1e-6)
    }
}

@Suite struct ConfidentCrossEntropyTests {
    @Test func gradientAndLossSurviveSaturation() {
        // p_y = 1 − e⁻³⁰ ≈ 1 − 9.4·10⁻¹⁴: the textbook p_y − 1 rounds to 0 in float32
        let logits = Tensor(shape: Shape(1, 2), scalars: [30, 0])
        let gradient = Tensor(zeros: logits.shape)
        let loss = CrossEntropy().compute(logits: logits, labels: [0], reduction: .sum, gradient: gradient, perExample: nil)
        #expect(abs(loss - 9.357623e-14) < 1e-18)
        #expect(gradient[0] < 0 && abs(gradient[0] + 9.357623e-14) < 1e-18)
        #expect(abs(gradient[1] - 9.357623e-14) < 1e-18)
    }
}
