import AdvNN
import AdvRobust
import Testing

/// The evaluation cascade, its resumption, and the sanity checks that flag unbelievable numbers.
@Suite struct RobustEvaluationTests {
    static let threat = ThreatModel(norm: .linf, epsilon: 0.3)
    static let split = TestModels.squares.test

    static func checks(for report: EvaluationReport) -> Set<String> { Set(report.warnings.map(\.check)) }

    /// The report without wall-clock fields, which legitimately differ between runs.
    static func timeless(_ report: EvaluationReport) -> EvaluationReport {
        var copy = report
        for index in copy.attacks.indices { copy.attacks[index].seconds = 0 }
        return copy
    }

    @Test func cascadeReportsPerAttackAndWorstCase() throws {
        let model = try TestModels.squaresClassifier()
        let evaluation = RobustEvaluation(
            battery: [BatteryEntry(PGD(threatModel: Self.threat, steps: 10)), BatteryEntry(FGSM(threatModel: Self.threat))],
            batchSize: 24, seed: 1, epsilonCurve: [0.05, 0.15, 0.3])
        let report = try evaluation.run(EvaluationTarget(model: model, defense: nil), on: Self.split)
        #expect(report.examples == 64 && report.cleanAccuracy > 0.9)
        #expect(report.attacks.count == 2)
        #expect(report.attacks[0].attackedExamples == Int((report.cleanAccuracy * 64).rounded()))
        #expect(report.attacks[0].standaloneRobustAccuracy == report.attacks[0].robustAccuracyAfter)
        #expect(report.attacks[1].attackedExamples == Int((report.attacks[0].robustAccuracyAfter * 64).rounded()))
        #expect(report.attacks[1].robustAccuracyAfter <= report.attacks[0].robustAccuracyAfter)
        #expect(report.worstCaseRobustAccuracy == report.attacks[1].robustAccuracyAfter)
        #expect(report.epsilonCurve.map(\.epsilon) == [0.05, 0.15, 0.3])
        #expect(report.epsilonCurve[0].robustAccuracy >= report.epsilonCurve[2].robustAccuracy)
        #expect(report.threatModel == "L∞ ε = 0.3, inputs in [0, 1]")
        let configurationChecks: Set = ["randomized-defense-without-eot", "non-differentiable-defense-without-bpda"]
        #expect(Self.checks(for: report).isDisjoint(with: configurationChecks))
        #expect(!Self.checks(for: report).contains("large-epsilon-not-chance"))
        // the curve at the threat model's ε is the battery's own number for its first attack
        #expect(report.epsilonCurve[2].robustAccuracy == report.attacks[0].standaloneRobustAccuracy)
        #expect(report.epsilonCurve.map(\.fromBattery) == [false, false, true])
        // every check is recorded, the passed ones too, with what it measured
        let checks = try #require(report.checks)
        #expect(checks.map(\.check) == ["single-step-beats-iterative", "black-box-beats-white-box", "randomized-defense-without-eot",
                                        "non-differentiable-defense-without-bpda", "not-monotone-in-epsilon", "large-epsilon-not-chance",
                                        "not-converged", "zero-or-nan-gradients"])
        #expect(checks.first { $0.check == "black-box-beats-white-box" }?.status == .notApplicable)
        #expect(checks.first { $0.check == "randomized-defense-without-eot" }?.measured == "no defense")
        #expect(checks.first { $0.check == "large-epsilon-not-chance" }?.status == .passed)
        #expect(checks.filter { $0.status == .failed }.map(\.check) == report.warnings.map(\.check))
        #expect(checks.allSatisfy { ($0.status == .failed) == ($0.warning != nil) && !$0.measured.isEmpty })
        // per class: the counts add up to the split, and the accuracies to the overall ones
        #expect(report.perClass.map(\.examples).reduce(0, +) == 64)
        let clean = report.perClass.reduce(0.0) { $0 + $1.cleanAccuracy * Double($1.examples) } / 64
        let robust = report.perClass.reduce(0.0) { $0 + $1.robustAccuracy * Double($1.examples) } / 64
        #expect(abs(clean - report.cleanAccuracy) < 1e-12 && abs(robust - report.worstCaseRobustAccuracy) < 1e-12)
    }

    @Test func checksThatWereTurnedOffAreNotReportedAsPassed() throws {
        var off = SanityCheckOptions()
        off.enabled = false
        let report = try RobustEvaluation(battery: [BatteryEntry(FGSM(threatModel: Self.threat))], batchSize: 32, checks: off)
            .run(EvaluationTarget(model: try TestModels.squaresClassifier(), defense: nil), on: Self.split)
        #expect(report.checks == nil && report.warnings.isEmpty)
    }

    @Test func wilsonIntervalsMatchTheirDefinition() {
        let half = ConfidenceInterval.wilson(0.5, examples: 100)
        #expect(abs(half.lower - 0.4038) < 1e-4 && abs(half.upper - 0.5962) < 1e-4)
        // at 0% the interval is not empty: its upper end is z²/(n + z²)
        let none = ConfidenceInterval.wilson(0, examples: 10)
        #expect(none.lower == 0 && abs(none.upper - 3.8415 / 13.8415) < 1e-4)
        #expect(ConfidenceInterval.wilson(1, examples: 10).upper == 1)
    }

    @Test func shatteredGradientsAreFlaggedAndBPDARemovesTheIllusion() throws {
        let model = try TestModels.squaresClassifier()
        let defense = BitDepthReduction(bits: 1)
        let pgd = PGD(threatModel: Self.threat, steps: 20, randomStart: false)
        let naive = try RobustEvaluation(battery: [BatteryEntry(pgd)], batchSize: 32, seed: 2)
            .run(EvaluationTarget(model: model, defense: defense), on: Self.split)
        let adaptive = try RobustEvaluation(battery: [BatteryEntry(pgd, gradients: .bpda)], batchSize: 32, seed: 2)
            .run(EvaluationTarget(model: model, defense: defense), on: Self.split)
        #expect(naive.worstCaseRobustAccuracy > 0.9)
        #expect(adaptive.worstCaseRobustAccuracy < 0.35)
        let flagged = Self.checks(for: naive)
        #expect(flagged.contains("non-differentiable-defense-without-bpda"))
        #expect(flagged.contains("zero-or-nan-gradients"))
        #expect(flagged.contains("large-epsilon-not-chance"))
        #expect(!Self.checks(for: adaptive).contains("non-differentiable-defense-without-bpda"))
        #expect(!Self.checks(for: adaptive).contains("zero-or-nan-gradients"))
        #expect(naive.defense == "bit-depth 1")
    }

    /// The warning's evidence is what is true of the defense at hand, with what the probe measured:
    /// a quantiser's derivative is zero almost everywhere, a median's passes the gradient to one input.
    @Test func theNonDifferentiableDefenseWarningDescribesThatDefense() throws {
        let model = try TestModels.squaresClassifier()
        func evidence(_ defense: any InputDefense) throws -> String {
            let report = try RobustEvaluation(battery: [BatteryEntry(FGSM(threatModel: Self.threat))], batchSize: 32, seed: 3)
                .run(EvaluationTarget(model: model, defense: defense), on: Self.split)
            return report.warnings.first { $0.check == "non-differentiable-defense-without-bpda" }?.evidence ?? ""
        }
        let median = try evidence(MedianFilter(size: 3))
        #expect(median.contains("the one input that was the median") && !median.contains("zero almost everywhere"), "\(median)")
        #expect(median.contains("on 64 probe examples") && !median.contains(" 100.0% of the input-gradient values"), "\(median)")
        let quantiser = try evidence(BitDepthReduction(bits: 1))
        #expect(quantiser.contains("rounding to 2 levels has a derivative of zero almost everywhere"), "\(quantiser)")
        #expect(quantiser.contains("100.0% of the input-gradient values through it were exactly zero"), "\(quantiser)")
    }

    @Test func blackBoxBeatingWhiteBoxIsFlagged() throws {
        let model = try TestModels.squaresClassifier()
        let battery = [BatteryEntry(PGD(threatModel: Self.threat, steps: 10, randomStart: false)),
                       BatteryEntry(SquareAttack(threatModel: Self.threat, queries: 300, initialFraction: 0.3))]
        let report = try RobustEvaluation(battery: battery, batchSize: 32, seed: 7)
            .run(EvaluationTarget(model: model, defense: BitDepthReduction(bits: 1)), on: Self.split)
        #expect(report.attacks[1].newlyBroken > 0)
        #expect(Self.checks(for: report).contains("black-box-beats-white-box"))
    }

    @Test func randomisedDefenseWithoutEOTIsFlagged() throws {
        let model = try TestModels.squaresClassifier()
        let defense = GaussianNoise(sigma: 0.1)
        let pgd = PGD(threatModel: Self.threat, steps: 5)
        let plain = try RobustEvaluation(battery: [BatteryEntry(pgd)], batchSize: 32, seed: 3)
            .run(EvaluationTarget(model: model, defense: defense), on: Self.split.prefix(32))
        let withEOT = try RobustEvaluation(battery: [BatteryEntry(pgd, gradients: .eot(samples: 4))], batchSize: 32, seed: 3)
            .run(EvaluationTarget(model: model, defense: defense), on: Self.split.prefix(32))
        #expect(Self.checks(for: plain).contains("randomized-defense-without-eot"))
        #expect(!Self.checks(for: withEOT).contains("randomized-defense-without-eot"))
    }

    @Test func resumedEvaluationGivesTheSameReport() throws {
        let model = try TestModels.squaresClassifier()
        let evaluation = RobustEvaluation(
            battery: [BatteryEntry(PGD(threatModel: Self.threat, steps: 5)), BatteryEntry(FGSM(threatModel: Self.threat))],
            batchSize: 8, seed: 4)
        var saved: [EvaluationState] = []
        let straight = try evaluation.run(EvaluationTarget(model: model, defense: GaussianNoise(sigma: 0.05)), on: Self.split) { state, _ in saved.append(state) }
        #expect(saved.count > 4)
        // resume from a state in the middle of the first attack, with a fresh model object
        let middle = saved[2]
        #expect(middle.finished.isEmpty && middle.currentBatches == 3)
        let resumed = try evaluation.run(EvaluationTarget(model: try TestModels.squaresClassifier(), defense: GaussianNoise(sigma: 0.05)),
                                     on: Self.split, resuming: middle)
        #expect(Self.timeless(resumed) == Self.timeless(straight))
    }

    @Test func weakIterativeAttackIsFlaggedAsNotConverged() throws {
        let model = try TestModels.squaresClassifier()
        let weak = PGD(threatModel: Self.threat, stepSize: 0.03, steps: 2, randomStart: false)
        var options = SanityCheckOptions()
        options.convergenceFactor = 10
        let report = try RobustEvaluation(battery: [BatteryEntry(weak)], batchSize: 32, seed: 5, checks: options)
            .run(EvaluationTarget(model: model, defense: nil), on: Self.split)
        #expect(Self.checks(for: report).contains("not-converged"))
        let warning = try #require(report.warnings.first { $0.check == "not-converged" })
        #expect(warning.evidence.contains("that survived the whole battery"))
    }

    @Test func robustAccuracyRisingWithEpsilonIsFlagged() throws {
        let model = try TestModels.squaresClassifier()
        let report = try RobustEvaluation(battery: [BatteryEntry(ShrinkingAttack(threatModel: Self.threat))], batchSize: 32, seed: 6,
                                      epsilonCurve: [0.25, 0.3])
            .run(EvaluationTarget(model: model, defense: nil), on: Self.split)
        #expect(report.epsilonCurve[1].robustAccuracy > report.epsilonCurve[0].robustAccuracy)
        #expect(Self.checks(for: report).contains("not-monotone-in-epsilon"))
    }
}

/// A deliberately broken attack for the monotonicity check: strong at small ε, and it gives up (returns
/// the clean input) at ε ≥ 0.28 — the kind of bug the check exists to catch.
struct ShrinkingAttack: Attack {
    var threatModel: ThreatModel
    var name: String { "shrinking test attack" }

    func withEpsilon(_ epsilon: Float) -> any Attack { ShrinkingAttack(threatModel: threatModel.withEpsilon(epsilon)) }

    func perturb(_ inputs: Tensor, labels: [Int], against classifier: any Classifier, using rng: inout RandomStream) -> AttackResult {
        guard threatModel.epsilon < 0.28 else { return AttackResult(adversarial: inputs.copy(), success: labels.map { _ in false }) }
        return PGD(threatModel: threatModel, steps: 10).perturb(inputs, labels: labels, against: classifier, using: &rng)
    }
}
