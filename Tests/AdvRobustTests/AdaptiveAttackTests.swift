import AdvNN
import AdvRobust
import Testing

/// The lessons of Athalye, Carlini & Wagner 2018 on small data: a defense that shatters gradients
/// looks robust to plain PGD and falls to BPDA; EOT recovers the expected gradient of a randomised one.
@Suite struct AdaptiveAttackTests {
    @Test func quantisationLooksRobustToPGDAndFallsToBPDA() throws {
        let model = try TestModels.squaresClassifier()
        let defended = DefendedClassifier(model, defense: BitDepthReduction(bits: 1), seed: 1)
        let (inputs, labels) = TestModels.squares.test.batch(0..<64)
        // 1-bit quantisation keeps the square and erases the background: clean accuracy survives
        #expect(TestModels.accuracy(defended, inputs, labels) > 0.9)

        // the honest derivative through a step function is zero everywhere
        let gradient = Tensor(zeros: inputs.shape)
        _ = defended.lossGradient(inputs, labels: labels, loss: CrossEntropy(), into: gradient)
        #expect(gradient.scalars.allSatisfy { $0 == 0 })

        let pgd = PGD(threatModel: ThreatModel(norm: .linf, epsilon: 0.3), steps: 20, randomStart: false)
        var rng = RandomStream(seed: 2)
        let plain = pgd.perturb(inputs, labels: labels, against: defended, using: &rng)
        let adaptive = pgd.perturb(inputs, labels: labels, against: BPDA(defended), using: &rng)
        let undefended = pgd.perturb(inputs, labels: labels, against: model, using: &rng)
        let plainAccuracy = TestModels.accuracy(defended, plain.adversarial, labels)
        let bpdaAccuracy = TestModels.accuracy(defended, adaptive.adversarial, labels)
        let undefendedAccuracy = TestModels.accuracy(model, undefended.adversarial, labels)
        #expect(plainAccuracy > 0.9, "plain PGD cannot move: the defense looks robust")
        // Quantisation does remove part of the attacker's power here: background pixels below 0.2 cannot
        // cross the 0.5 threshold within ε = 0.3, so BPDA stays above the undefended model's 5%.
        #expect(bpdaAccuracy < 0.35, "BPDA breaks it (robust accuracy \(bpdaAccuracy))")
        #expect(undefendedAccuracy < 0.1)
    }

    @Test func bpdaPassesTheGradientAtTheDefendedPoint() throws {
        let model = try TestModels.squaresClassifier()
        let defended = DefendedClassifier(model, defense: BitDepthReduction(bits: 2), seed: 1)
        let (inputs, labels) = TestModels.squares.test.batch(0..<8)
        let throughBPDA = Tensor(zeros: inputs.shape), atDefendedPoint = Tensor(zeros: inputs.shape)
        _ = BPDA(defended).lossGradient(inputs, labels: labels, loss: CrossEntropy(), into: throughBPDA)
        let quantised = defended.transform(inputs).copy()
        _ = model.lossGradient(quantised, labels: labels, loss: CrossEntropy(), into: atDefendedPoint)
        #expect(throughBPDA.scalars == atDefendedPoint.scalars)
        #expect(throughBPDA.scalars.contains { $0 != 0 })
    }

    @Test func eotEstimatesTheExpectedGradientOfRandomDropping() throws {
        // Linear model and the CW margin of two classes: the margin is linear in the defended input, so
        // the expected input gradient under dropping with rate p is exactly (1 − p)·(W_other − W_y).
        var rng = RandomStream(seed: 3)
        let model = try ModelSpec(architecture: "linear", inputShape: [6], classes: 2).build(rng: &rng)
        let layer = model.layers[1] as! Linear
        let classifier = ModelClassifier(model, classCount: 2)
        let defended = DefendedClassifier(classifier, defense: RandomDropping(rate: 0.5), seed: 4)
        let inputs = Tensor(repeating: 0.5, shape: Shape(1, 6))
        let labels = [0], loss = CarliniWagnerMargin(confidence: 1000)
        let expected = (0..<6).map { 0.5 * (layer.weight.value[6 + $0] - layer.weight.value[$0]) }

        let single = Tensor(zeros: inputs.shape), averaged = Tensor(zeros: inputs.shape)
        _ = defended.lossGradient(inputs, labels: labels, loss: loss, into: single)
        _ = ExpectationOverTransformation(defended, samples: 4000).lossGradient(inputs, labels: labels, loss: loss, into: averaged)
        let singleError = zip(single.scalars, expected).map { abs($0 - $1) }.max()!
        let averagedError = zip(averaged.scalars, expected).map { abs($0 - $1) }.max()!
        let scale = expected.map(abs).max()!
        #expect(averagedError < 0.05 * scale, "EOT error \(averagedError)")
        #expect(singleError > 0.3 * scale, "one draw is far from the expectation")
    }

    @Test func defendedPredictionsAreReproducibleFromTheSeed() throws {
        let model = try TestModels.squaresClassifier()
        let (inputs, _) = TestModels.squares.test.batch(0..<32)
        let first = DefendedClassifier(model, defense: GaussianNoise(sigma: 0.5), seed: 9).predictions(inputs)
        let second = DefendedClassifier(model, defense: GaussianNoise(sigma: 0.5), seed: 9).predictions(inputs)
        #expect(first == second)
    }
}

/// The derivatives the defenses report, against finite differences or their adjoint.
@Suite struct DefenseDerivativeTests {
    @Test func medianFilterRoutesGradientsToTheMedian() {
        var rng = RandomStream(seed: 1)
        let input = Tensor(zeros: Shape(1, 2, 5, 5))
        let order = rng.permutation(of: input.count)
        for i in 0..<input.count { input[i] = Float(order[i]) * 0.01 }   // distinct values: no ties
        let filter = MedianFilter(size: 3), output = Tensor(zeros: Shape(0)), weights = Tensor(zeros: input.shape)
        for i in 0..<weights.count { weights[i] = rng.nextFloat(in: -1, 1) }
        filter.apply(input, into: output, rng: &rng)
        let analytic = Tensor(zeros: Shape(0))
        filter.backward(weights, into: analytic)
        // a perturbation smaller than half the spacing never changes which value is the median
        for i in 0..<input.count {
            let original = input[i]
            input[i] = original + 0.002
            filter.apply(input, into: output, rng: &rng)
            let plus = (0..<output.count).reduce(0.0) { $0 + Double(output[$1] * weights[$1]) }
            input[i] = original - 0.002
            filter.apply(input, into: output, rng: &rng)
            let minus = (0..<output.count).reduce(0.0) { $0 + Double(output[$1] * weights[$1]) }
            input[i] = original
            #expect(abs((plus - minus) / 0.004 - Double(analytic[i])) < 1e-3)
        }
        // and its value is the median: a constant image stays constant
        let constant = Tensor(repeating: 0.5, shape: Shape(1, 1, 4, 4))
        filter.apply(constant, into: output, rng: &rng)
        #expect(output.scalars.allSatisfy { $0 == 0.5 })
    }

    @Test func defenseNamesReadAsTheySay() {
        #expect(RandomResizePad(maximumShrink: 4).name == "random resize and pad (shrinks by up to 4 px)")
        #expect(Wording.counted(1, "thread") == "1 thread" && Wording.counted(2, "thread") == "2 threads")
        #expect(Wording.counted(3, "batch", plural: "batches") == "3 batches")
    }

    @Test func resizePadBackwardIsTheAdjointOfItsDraw() {
        var rng = RandomStream(seed: 2)
        let defense = RandomResizePad(maximumShrink: 3)
        let x = Tensor(zeros: Shape(3, 2, 8, 8)), y = Tensor(zeros: x.shape)
        for i in 0..<x.count { x[i] = rng.nextFloat(in: -1, 1); y[i] = rng.nextFloat(in: -1, 1) }
        let transformed = Tensor(zeros: Shape(0)), back = Tensor(zeros: Shape(0))
        defense.apply(x, into: transformed, rng: &rng)
        defense.backward(y, into: back)
        // ⟨T x, y⟩ = ⟨x, Tᵀ y⟩ for the draw just made
        let left = (0..<x.count).reduce(0.0) { $0 + Double(transformed[$1] * y[$1]) }
        let right = (0..<x.count).reduce(0.0) { $0 + Double(x[$1] * back[$1]) }
        #expect(abs(left - right) < 1e-3)
        #expect(defense.isRandomized && MedianFilter(size: 3).isDifferentiable == false)
    }
}
