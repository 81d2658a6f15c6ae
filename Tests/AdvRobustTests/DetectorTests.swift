import AdvNN
import AdvRobust
import Testing

/// Carlini & Wagner 2017 on small data: a max-softmax detector catches minimal-margin adversarial
/// examples, and high-confidence ones walk past it.
@Suite struct DetectorTests {
    @Test func highConfidenceExamplesPassTheMaxSoftmaxDetector() throws {
        let model = try TestModels.squaresClassifier()
        let (clean, _) = TestModels.squares.train.batch(0..<200)
        let detector = MaxSoftmaxDetector.calibrated(on: clean, model: model.model, falsePositiveRate: 0.05)
        let rejectedClean = detector.rejects(clean, model: model.model).filter { $0 }.count
        #expect(rejectedClean <= 12, "about 5% of the calibration inputs are rejected, got \(rejectedClean)")

        let threat = ThreatModel(norm: .linf, epsilon: 0.5)
        let target = EvaluationTarget(model: model, detector: detector)
        func evaluate(confidence: Float) throws -> AttackOutcome {
            let attack = PGD(threatModel: threat, stepSize: confidence == 0 ? 0.005 : 0.02, steps: 200, loss: .carliniWagner(confidence: confidence))
            var checks = SanityCheckOptions()
            checks.enabled = false
            return try RobustEvaluation(battery: [BatteryEntry(attack)], batchSize: 64, seed: 1, checks: checks)
                .run(target, on: TestModels.squares.test).attacks[0]
        }
        // This toy model is so sure of clean inputs that the 5% threshold sits near 0.9998: "high
        // confidence" here takes a margin of κ = 30 (Fashion-MNIST's MLP needs κ = 10, see examples/).
        let minimal = try evaluate(confidence: 0), confident = try evaluate(confidence: 30)
        let minimalMisclassified = minimal.newlyBroken + minimal.rejectedByDetector!
        let confidentMisclassified = confident.newlyBroken + confident.rejectedByDetector!
        #expect(minimalMisclassified > 30 && confidentMisclassified > 30)
        #expect(Double(minimal.rejectedByDetector!) > 0.5 * Double(minimalMisclassified), "minimal-margin examples are mostly caught")
        #expect(Double(confident.rejectedByDetector!) < 0.2 * Double(confidentMisclassified), "high-confidence ones pass")
        #expect(confident.robustAccuracyAfter < minimal.robustAccuracyAfter, "\(minimal) vs \(confident)")
    }

    @Test func activationStatisticsDetectorLearnsToSeparate() throws {
        let model = try TestModels.squaresClassifier()
        let (clean, labels) = TestModels.squares.train.batch(0..<200)
        var rng = RandomStream(seed: 2)
        let adversarial = PGD(threatModel: ThreatModel(norm: .linf, epsilon: 0.5), steps: 20, loss: .carliniWagner(confidence: 0))
            .perturb(clean, labels: labels, against: model, using: &rng).adversarial
        let detector = ActivationStatisticsDetector.trained(clean: clean, adversarial: adversarial, model: model.model,
                                                            falsePositiveRate: 0.05)
        let cleanRejected = detector.rejects(clean, model: model.model).filter { $0 }.count
        let adversarialRejected = detector.rejects(adversarial, model: model.model).filter { $0 }.count
        #expect(cleanRejected <= 15)
        #expect(adversarialRejected > 100, "caught \(adversarialRejected) of 200")
    }
}
