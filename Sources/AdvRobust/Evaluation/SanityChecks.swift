import AdvNN
import Foundation

/// Settings of the automatic sanity checks.
public struct SanityCheckOptions: Codable, Sendable, Equatable {
    /// Run the checks at all.
    public var enabled = true
    /// Examples the probing checks (large ε, convergence, zero gradients) use at most.
    public var probeExamples = 200
    /// The "very large" radius; nil: 0.5 for L∞ on [0, 1] (enough to make every image the same grey),
    /// 0.5·√d for L2 on [0, 1], and 10·ε for unbounded inputs.
    public var largeEpsilon: Float?
    /// Steps and restarts are multiplied by this for the convergence check.
    public var convergenceFactor = 2
    /// Fraction of examples with zero or NaN gradients that triggers a warning.
    public var zeroGradientFraction = 0.05

    public init() {}
}

/// The checks of Carlini et al. 2019 ("On Evaluating Adversarial Robustness", §5) that advd runs after
/// every evaluation. Each failed check is a named warning with its evidence and what to try; none of them
/// proves robustness, but any of them means the robust accuracy reported is not believable as it stands.
struct SanityChecks {
    let evaluation: RobustEvaluation
    let options: SanityCheckOptions

    init(evaluation: RobustEvaluation, options: SanityCheckOptions) {
        self.evaluation = evaluation
        self.options = options
    }

    /// Every check, in a fixed order, each passed, failed or not applicable.
    func results(for report: EvaluationReport, state: EvaluationState, target: EvaluationTarget,
                 split: DataSplit) -> [SanityCheckResult] {
        let probe = split.prefix(options.probeExamples)
        return cascadeResults(report) + configurationResults(target: target, probe: probe)
            + [monotonicityResult(report.epsilonCurve), largeEpsilonResult(target: target, probe: probe),
               convergenceResult(state: state, target: target, split: split), gradientResult(target: target, probe: probe)]
    }

    /// A weaker attack that breaks examples a stronger one left standing: single-step after iterative,
    /// gradient-free after gradient-based. One example near a decision boundary is noise, not evidence:
    /// it takes at least two, and at least 0.5% of the examples attacked.
    private func cascadeResults(_ report: EvaluationReport) -> [SanityCheckResult] {
        let singleStep = "single-step-beats-iterative", blackBox = "black-box-beats-white-box"
        let singleStepQuestion = "Does a single-step attack break examples an earlier iterative attack left standing?"
        let blackBoxQuestion = "Does a gradient-free attack break examples the gradient attacks left standing?"
        var single: SanityCheckResult?, gradientFree: SanityCheckResult?
        for (index, entry) in evaluation.battery.enumerated() {
            let earlier = evaluation.battery[..<index]
            let outcome = report.attacks[index]
            let threshold = max(2, outcome.attackedExamples / 200)
            let measured = "\(outcome.name) newly broke \(outcome.newlyBroken) of \(outcome.attackedExamples)"
            let failed = outcome.newlyBroken >= threshold
            if entry.attack.kind == .singleStep, let stronger = earlier.first(where: { $0.attack.kind == .iterative }), single?.status != .failed {
                single = SanityCheckResult.judged(
                singleStep, singleStepQuestion, failed: failed, measured: measured,
                threshold: "fails at \(threshold) or more (at least 2, and 0.5% of those attacked)",
                message: "\(outcome.name) found adversarial examples that \(stronger.name) missed",
                evidence: "\(outcome.newlyBroken) of \(outcome.attackedExamples) examples that survived the iterative attacks fell to one gradient step",
                suggestion: "an iterative attack should dominate a single step; its step size may be too small, its loss saturated, or the gradients masked: try more steps, the CW or DLR loss, BPDA or EOT")
            }
            if entry.attack.kind == .gradientFree, earlier.contains(where: { $0.attack.kind != .gradientFree }), gradientFree?.status != .failed {
                gradientFree = SanityCheckResult.judged(
                blackBox, blackBoxQuestion, failed: failed, measured: measured,
                threshold: "fails at \(threshold) or more (at least 2, and 0.5% of those attacked)",
                message: "the gradient-free \(outcome.name) broke examples the gradient attacks could not",
                evidence: "\(outcome.newlyBroken) of \(outcome.attackedExamples) examples that survived every white-box attack fell to a black-box one",
                suggestion: "white-box attacks see strictly more; their gradients are likely masked or shattered: use BPDA for non-differentiable steps and EOT for randomness")
            }
        }
        return [single ?? .notApplicable(singleStep, singleStepQuestion, because: "no single-step attack runs after an iterative one"),
                gradientFree ?? .notApplicable(blackBox, blackBoxQuestion, because: "no gradient-free attack runs after a gradient attack")]
    }

    /// A randomised defense attacked without EOT, or a non-differentiable one without BPDA.
    private func configurationResults(target: EvaluationTarget, probe: DataSplit) -> [SanityCheckResult] {
        let eot = "randomized-defense-without-eot", bpda = "non-differentiable-defense-without-bpda"
        let eotQuestion = "Is a randomised defense attacked with gradients averaged over its randomness (EOT)?"
        let bpdaQuestion = "Is a non-differentiable defense attacked through BPDA?"
        guard let defense = target.defense else {
            return [.notApplicable(eot, eotQuestion, because: "no defense"), .notApplicable(bpda, bpdaQuestion, because: "no defense")]
        }
        let eotAttacks = evaluation.battery.filter { $0.gradients.usesEOT }.count
        let bpdaAttacks = evaluation.battery.filter { $0.gradients.usesBPDA }.count
        let eotResult: SanityCheckResult = !defense.isRandomized
            ? .notApplicable(eot, eotQuestion, because: "\(defense.name) is deterministic")
            : .judged(eot, eotQuestion, failed: eotAttacks == 0,
                      measured: "\(eotAttacks) of \(evaluation.battery.count) attacks use EOT", threshold: "fails with none",
                      message: "the randomised defense \(defense.name) was attacked without EOT",
                      evidence: "no attack of the battery averages gradients over the defense's randomness",
                      suggestion: "add an attack with gradients: eot (e.g. 16–32 samples): single-draw gradients point in noisy directions and overstate robustness")
        let bpdaResult: SanityCheckResult = defense.isDifferentiable
            ? .notApplicable(bpda, bpdaQuestion, because: "\(defense.name) is differentiable")
            : .judged(bpda, bpdaQuestion, failed: bpdaAttacks == 0,
                      measured: "\(bpdaAttacks) of \(evaluation.battery.count) attacks use BPDA", threshold: "fails with none",
                      message: "the non-differentiable defense \(defense.name) was attacked without BPDA",
                      evidence: defense.derivativeNote + measuredZeroGradients(target: target, probe: probe),
                      suggestion: "add an attack with gradients: bpda (the identity on the backward pass) and compare")
        return [eotResult, bpdaResult]
    }

    /// What the probe saw of the true gradient through the defense: the share of input-gradient values
    /// that are exactly zero (", and on the probe …"), or nothing when there is no probe.
    private func measuredZeroGradients(target: EvaluationTarget, probe: DataSplit) -> String {
        guard probe.count > 0 else { return "" }
        let (inputs, labels) = probe.batch(0..<probe.count)
        let gradient = Tensor(zeros: inputs.shape)
        _ = GradientEstimation.direct.classifier(attacking: evaluation.judged(target, attack: 4001, batch: 0))
            .lossGradient(inputs, labels: labels, loss: CrossEntropy(), into: gradient)
        let zeros = (0..<gradient.count).filter { gradient[$0] == 0 }.count
        return "; on \(probe.count) probe \(probe.count == 1 ? "example" : "examples"), \(percent(Double(zeros) / Double(max(gradient.count, 1)))) of the input-gradient values through it were exactly zero"
    }

    /// Robust accuracy that rises with ε: a larger ball contains the smaller one.
    private func monotonicityResult(_ curve: [EpsilonPoint]) -> SanityCheckResult {
        let check = "not-monotone-in-epsilon", question = "Does robust accuracy fall (or stay) as ε grows?"
        let sorted = curve.sorted { $0.epsilon < $1.epsilon }
        guard sorted.count >= 2 else { return .notApplicable(check, question, because: "no ε-curve with two or more radii") }
        let pairs = Array(zip(sorted, sorted.dropFirst()))
        let worst = pairs.max { ($0.1.robustAccuracy - $0.0.robustAccuracy) < ($1.1.robustAccuracy - $1.0.robustAccuracy) }!
        let rise = worst.1.robustAccuracy - worst.0.robustAccuracy
        let failed = rise > 0.01
        return SanityCheckResult.judged(
                check, question, failed: failed, measured: String(format: "largest rise %.1f points (ε = %@ → %@)", max(rise, 0) * 100, "\(worst.0.epsilon)", "\(worst.1.epsilon)"),
                threshold: "fails above 1 point",
                message: "robust accuracy rises with ε",
                evidence: "ε = \(worst.0.epsilon): \(percent(worst.0.robustAccuracy)); ε = \(worst.1.epsilon): \(percent(worst.1.robustAccuracy))",
                suggestion: "every example of the smaller ball is in the larger one, so the attack is failing to optimise: more steps, restarts, or adaptive gradients")
    }

    /// Accuracy that stays far above chance at a radius where any input can be made almost anything.
    private func largeEpsilonResult(target: EvaluationTarget, probe: DataSplit) -> SanityCheckResult {
        let check = "large-epsilon-not-chance", question = "Does accuracy fall to chance at a very large ε?"
        guard probe.count > 0 else { return .notApplicable(check, question, because: "no examples to probe") }
        let entry = evaluation.battery.first { $0.attack.kind != .gradientFree } ?? evaluation.battery[0]
        let threat = entry.attack.threatModel
        let epsilon = options.largeEpsilon ?? defaultLargeEpsilon(threat, dimensions: probe.itemSize)
        let large = BatteryEntry(entry.attack.withEpsilon(epsilon), gradients: entry.gradients)
        let accuracy = evaluation.robustAccuracy(of: large, attackIndex: 2000, target: target, on: probe)
        let chance = 1 / Double(target.model.classCount)
        let failed = accuracy > chance + 0.1
        return SanityCheckResult.judged(
                check, question, failed: failed, measured: "\(large.name) at ε = \(epsilon): \(percent(accuracy)) robust on \(probe.count) examples",
                threshold: "fails above chance + 10 points (\(percent(chance + 0.1)))",
                message: "accuracy does not fall to chance at a very large ε",
                evidence: "\(large.name) at ε = \(epsilon) leaves \(percent(accuracy)) robust on \(probe.count) examples; chance is \(percent(chance))",
                suggestion: "at this radius the attacker can replace the input almost entirely; the attack is not working (masked gradients, wrong loss, too few steps)")
    }

    private func defaultLargeEpsilon(_ threat: ThreatModel, dimensions: Int) -> Float {
        guard let lower = threat.lowerBound, let upper = threat.upperBound else { return 10 * threat.epsilon }
        let halfRange = (upper - lower) / 2
        return threat.norm == .linf ? halfRange : halfRange * Float(dimensions).squareRoot()
    }

    /// A stronger run of the main iterative attack that still finds adversarial examples among survivors.
    private func convergenceResult(state: EvaluationState, target: EvaluationTarget, split: DataSplit) -> SanityCheckResult {
        let check = "not-converged", question = "Does an attack with twice the steps and restarts break any survivor?"
        guard let entry = evaluation.battery.first(where: { $0.attack.kind == .iterative }) else {
            return .notApplicable(check, question, because: "no iterative attack in the battery")
        }
        let survivors = Array(state.robust.indices.filter { state.robust[$0] }.prefix(options.probeExamples))
        guard !survivors.isEmpty else { return .notApplicable(check, question, because: "no example survived the battery") }
        let stronger = BatteryEntry(entry.attack.strengthened(by: options.convergenceFactor), gradients: entry.gradients)
        var broken = 0, misjudged = 0
        for (batch, start) in stride(from: 0, to: survivors.count, by: evaluation.batchSize).enumerated() {
            let indices = Array(survivors[start..<min(start + evaluation.batchSize, survivors.count)])
            broken += evaluation.attackBatch(indices, entry: stronger, attackIndex: 3000, batch: batch,
                                             target: target, split: split).broken.count
            // A randomised defense misclassifies some survivors on a fresh draw with no attack at all;
            // only what the stronger attack breaks beyond that baseline counts.
            if target.defense?.isRandomized == true {
                let batchInputs = Tensor(zeros: Shape(0))
                var batchLabels: [Int] = []
                split.gather(indices[...], into: batchInputs, labels: &batchLabels)
                let predictions = evaluation.judged(target, attack: 3000, batch: batch).predictions(batchInputs)
                misjudged += zip(predictions, batchLabels).filter { $0 != $1 }.count
            }
        }
        let threshold = max(1, survivors.count / 100)
        let failed = broken - misjudged >= threshold
        let baseline = misjudged > 0 ? " (\(misjudged) of them are misclassified by a fresh draw of the defense without any attack)" : ""
        return SanityCheckResult.judged(
                check, question, failed: failed, measured: "\(stronger.name) broke \(broken) of \(survivors.count) survivors\(baseline)",
                threshold: "fails at \(threshold) or more beyond the baseline (at least 1, and 1% of the survivors probed)",
                message: "a stronger attack still finds new adversarial examples",
                evidence: "\(stronger.name) broke \(broken) of \(survivors.count) examples that survived the whole battery\(baseline)",
                suggestion: "the reported robust accuracy is an overestimate: raise steps and restarts until it stops falling")
    }

    /// Gradients that are exactly zero or not finite, which no attack can follow.
    private func gradientResult(target: EvaluationTarget, probe: DataSplit) -> SanityCheckResult {
        let check = "zero-or-nan-gradients", question = "Are the attacked classifier's input gradients non-zero and finite?"
        guard let entry = evaluation.battery.first(where: { $0.attack.kind != .gradientFree }) else {
            return .notApplicable(check, question, because: "no gradient attack in the battery")
        }
        guard probe.count > 0 else { return .notApplicable(check, question, because: "no examples to probe") }
        let (inputs, labels) = probe.batch(0..<probe.count)
        let attacked = entry.gradients.classifier(attacking: evaluation.judged(target, attack: 4000, batch: 0))
        let gradient = Tensor(zeros: inputs.shape)
        _ = attacked.lossGradient(inputs, labels: labels, loss: CrossEntropy(), into: gradient)
        let D = inputs.shape.elementsPerItem
        let bad = (0..<labels.count).filter { n in
            let values = UnsafeBufferPointer(start: gradient.data + n * D, count: D)
            return values.allSatisfy { $0 == 0 } || values.contains { !$0.isFinite }
        }.count
        let fraction = Double(bad) / Double(labels.count)
        let failed = fraction > options.zeroGradientFraction
        return SanityCheckResult.judged(
                check, question, failed: failed, measured: "\(bad) of \(labels.count) examples (\(percent(fraction))) have an all-zero or non-finite input gradient under \(entry.name)",
                threshold: "fails above \(percent(options.zeroGradientFraction)) of the examples",
                message: "the attacked classifier gives zero or NaN gradients for many examples",
                evidence: "\(bad) of \(labels.count) examples (\(percent(fraction))) have an all-zero or non-finite input gradient under \(entry.name)",
                suggestion: "a gradient attack cannot move there: use BPDA across non-differentiable steps, the CW/DLR loss against saturated softmax, or a gradient-free attack")
    }
}

extension SanityCheckResult {
    /// A check that ran: failed or passed, with its warning (built only when it failed).
    static func judged(_ check: String, _ question: String, failed: Bool, measured: String, threshold: String,
                       message: @autoclosure () -> String, evidence: @autoclosure () -> String,
                       suggestion: @autoclosure () -> String) -> SanityCheckResult {
        SanityCheckResult(check: check, question: question, status: failed ? .failed : .passed, measured: measured, threshold: threshold,
                          warning: failed ? SanityWarning(check: check, message: message(), evidence: evidence(), suggestion: suggestion()) : nil)
    }

    static func notApplicable(_ check: String, _ question: String, because reason: String) -> SanityCheckResult {
        SanityCheckResult(check: check, question: question, status: .notApplicable, measured: reason, threshold: "—", warning: nil)
    }
}

func percent(_ value: Double) -> String {
    String(format: "%.1f%%", value * 100)
}
