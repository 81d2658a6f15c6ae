import AdvNN
import Foundation
import Testing

/// Optimisers against updates computed by hand from PyTorch's documented rules.
@Suite struct OptimizerTests {
    static func parameter(_ values: [Float], gradient: [Float]) -> Parameter {
        let parameter = Parameter(Tensor(shape: Shape(values.count), scalars: values))
        for (i, g) in gradient.enumerated() { parameter.gradient[i] = g }
        return parameter
    }

    @Test func plainSGDWithWeightDecay() {
        let p = Self.parameter([1, -2], gradient: [0.5, 0.5])
        let sgd = SGD(parameters: [("w", p)], learningRate: 0.1, weightDecay: 0.01)
        sgd.step()
        // w − lr·(g + λw)
        let expected: [Float] = [1 - 0.1 * (0.5 + 0.01), -2 - 0.1 * (0.5 - 0.02)]
        #expect(abs(p.value[0] - expected[0]) < 1e-7 && abs(p.value[1] - expected[1]) < 1e-7)
    }

    @Test func momentumStartsFromTheFirstGradient() {
        let p = Self.parameter([0], gradient: [1])
        let sgd = SGD(parameters: [("w", p)], learningRate: 0.1, momentum: 0.9)
        sgd.step()                       // b = 1, w = −0.1
        sgd.step()                       // b = 0.9·1 + 1 = 1.9, w = −0.1 − 0.19
        #expect(abs(p.value[0] - -0.29) < 1e-6)
        #expect(abs(sgd.namedState[0].tensor[0] - 1.9) < 1e-6)
    }

    @Test func nesterovLooksAhead() {
        let p = Self.parameter([0], gradient: [1])
        let sgd = SGD(parameters: [("w", p)], learningRate: 0.1, momentum: 0.9, nesterov: true)
        sgd.step()                       // b = 1, d = 1 + 0.9·1 = 1.9
        sgd.step()                       // b = 1.9, d = 1 + 0.9·1.9 = 2.71
        #expect(abs(p.value[0] - -(0.19 + 0.271)) < 1e-6)
    }

    @Test func adamFirstStepMovesByTheLearningRate() {
        // With bias correction, the first Adam step is lr·g/(|g| + ε′) ≈ lr·sign(g).
        let p = Self.parameter([1, 1], gradient: [3, -0.001])
        let adam = Adam(parameters: [("w", p)], learningRate: 0.01)
        adam.step()
        #expect(abs(p.value[0] - 0.99) < 1e-5 && abs(p.value[1] - 1.01) < 1e-4)
    }

    @Test func adamSecondStepMatchesTheFormula() {
        let p = Self.parameter([0.5], gradient: [0.2])
        let adam = Adam(parameters: [("w", p)], learningRate: 0.1, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1)
        adam.step()
        let w1 = Double(p.value[0])
        p.gradient[0] = -0.4
        adam.step()
        // recompute in Double with L2 decay folded into the gradient
        var m = 0.0, v = 0.0, w = 0.5
        for (t, g0) in [(1, 0.2), (2, -0.4)] {
            let g = g0 + 0.1 * w
            m = 0.9 * m + 0.1 * g
            v = 0.99 * v + 0.01 * g * g
            w -= 0.1 / (1 - pow(0.9, Double(t))) * m / (v.squareRoot() / (1 - pow(0.99, Double(t))).squareRoot() + 1e-8)
            if t == 1 { #expect(abs(w - w1) < 1e-6) }
        }
        #expect(abs(Double(p.value[0]) - w) < 1e-6)
    }

    @Test func adamWDecaysDecoupled() {
        let p = Self.parameter([2], gradient: [0])
        let adamW = Adam(parameters: [("w", p)], learningRate: 0.1, weightDecay: 0.5, decoupled: true)
        adamW.step()
        #expect(abs(p.value[0] - 2 * (1 - 0.05)) < 1e-6)   // a zero gradient leaves only the decay
    }
}

@Suite struct LearningRateScheduleTests {
    @Test func stepScheduleDropsAtMilestones() {
        let schedule = LearningRateSchedule.step(milestones: [2, 4], gamma: 0.1)
        let rates = [0, 9, 10, 29, 40].map { schedule.rate(base: 1, step: $0, stepsPerEpoch: 10, totalEpochs: 5) }
        #expect(rates.map { ($0 * 1000).rounded() / 1000 } == [1, 1, 1, 0.1, 0.01])
    }

    @Test func cosineGoesFromBaseToMinimum() {
        let schedule = LearningRateSchedule.cosine(minimum: 0.01)
        #expect(schedule.rate(base: 1, step: 0, stepsPerEpoch: 10, totalEpochs: 10) == 1)
        #expect(abs(schedule.rate(base: 1, step: 50, stepsPerEpoch: 10, totalEpochs: 10) - 0.505) < 1e-6)
        #expect(abs(schedule.rate(base: 1, step: 100, stepsPerEpoch: 10, totalEpochs: 10) - 0.01) < 1e-6)
    }

    @Test func oneCyclePeaksAtTwoFifths() {
        let schedule = LearningRateSchedule.oneCycle(peakFraction: 0.4)
        let rate = { schedule.rate(base: 0.2, step: $0, stepsPerEpoch: 10, totalEpochs: 10) }
        #expect(abs(rate(39) - 0.2) < 1e-6)        // after 40 of 100 steps: the peak
        #expect(abs(rate(19) - 0.1) < 1e-6)        // halfway up
        #expect(abs(rate(69) - 0.1) < 1e-6)        // halfway down
        #expect(abs(rate(99)) < 1e-6)              // back to zero at the end
    }
}

@Suite struct RandomStreamTests {
    @Test func sameSeedAndPurposeGiveTheSameSequence() {
        var a = RandomStream(seed: 42, purpose: "init"), b = RandomStream(seed: 42, purpose: "init")
        #expect((0..<100).map { _ in a.next() } == (0..<100).map { _ in b.next() })
    }

    @Test func purposesAndIndicesAreIndependentStreams() {
        var a = RandomStream(seed: 42, purpose: "init"), b = RandomStream(seed: 42, purpose: "shuffle")
        var c = RandomStream(seed: 42, purpose: "shuffle", index: 1)
        let first = [a.next(), b.next(), c.next()]
        #expect(Set(first).count == 3)
    }

    @Test func savedStateResumesExactly() {
        var stream = RandomStream(seed: 7)
        for _ in 0..<13 { _ = stream.next() }
        var restored = RandomStream(stateWords: stream.stateWords)
        #expect((0..<50).map { _ in stream.nextNormal() } == (0..<50).map { _ in restored.nextNormal() })
    }

    @Test func knownFirstOutputsPinTheGenerator() {
        // xoshiro256** reference: state (1, 2, 3, 4) gives 11520, 0, 1509978240, 1215971899390074240
        var stream = RandomStream(state: (1, 2, 3, 4))
        #expect([stream.next(), stream.next(), stream.next(), stream.next()] == [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240])
    }

    @Test func distributionsHaveTheRightMoments() {
        var stream = RandomStream(seed: 3)
        let uniform = (0..<20_000).map { _ in Double(stream.nextUnitFloat()) }
        let normal = (0..<20_000).map { _ in Double(stream.nextNormal()) }
        let mean = normal.reduce(0, +) / 20_000
        let variance = normal.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 20_000
        #expect(abs(uniform.reduce(0, +) / 20_000 - 0.5) < 0.01)
        #expect(uniform.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(abs(mean) < 0.03 && abs(variance - 1) < 0.03)
        let permutation = stream.permutation(of: 100)
        #expect(permutation.sorted() == Array(0..<100) && permutation != Array(0..<100))
    }
}
