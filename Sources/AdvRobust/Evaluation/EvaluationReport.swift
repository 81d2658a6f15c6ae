/// What an evaluation found, in the form `metrics.json` and `report.md` present it.
public struct EvaluationReport: Codable, Sendable, Equatable {
    /// The threat model of the battery, stated as a claim.
    public var threatModel: String
    /// The defense in front of the model, if any.
    public var defense: String?
    /// The detector beside the model, if any, and the fraction of clean examples it rejects.
    public var detector: String?
    public var falsePositiveRate: Double?
    /// Examples evaluated.
    public var examples: Int
    public var cleanAccuracy: Double
    /// One entry per attack of the battery, in the order they ran.
    public var attacks: [AttackOutcome]
    /// Fraction of examples that survived every attack: robust only if all failed.
    public var worstCaseRobustAccuracy: Double
    /// Robust accuracy of the curve attack at each ε.
    public var epsilonCurve: [EpsilonPoint]
    /// Clean and worst-case robust accuracy of each class, in class order.
    public var perClass: [ClassAccuracy]
    /// Every sanity check that ran, passed or not, with what it measured; nil when the manifest turned
    /// the checks off (`evaluation.sanity_checks: false`), so nothing can be said about masking.
    public var checks: [SanityCheckResult]?
    /// Signs that the evaluation may overstate robustness: the advice of each failed check.
    public var warnings: [SanityWarning]

    /// 95% Wilson interval of the clean accuracy.
    public var cleanAccuracyInterval: ConfidenceInterval { .wilson(cleanAccuracy, examples: examples) }
    /// 95% Wilson interval of the worst-case robust accuracy.
    public var worstCaseInterval: ConfidenceInterval { .wilson(worstCaseRobustAccuracy, examples: examples) }
}

/// Accuracies of one class.
public struct ClassAccuracy: Codable, Sendable, Equatable {
    public var className: String
    /// Evaluated examples of this class.
    public var examples: Int
    public var cleanAccuracy: Double
    /// Correct and not broken by any attack of the battery.
    public var robustAccuracy: Double
}

/// A 95% confidence interval of an accuracy measured on `examples` examples.
public struct ConfidenceInterval: Codable, Sendable, Equatable {
    public var lower: Double
    public var upper: Double

    /// The Wilson score interval (Wilson 1927): unlike the normal approximation it stays inside [0, 1]
    /// and is not empty at 0% or 100%, where robust accuracies often sit.
    public static func wilson(_ accuracy: Double, examples: Int, z: Double = 1.959964) -> ConfidenceInterval {
        guard examples > 0 else { return ConfidenceInterval(lower: 0, upper: 1) }
        let n = Double(examples), z2 = z * z
        let centre = (accuracy + z2 / (2 * n)) / (1 + z2 / n)
        let half = z / (1 + z2 / n) * (accuracy * (1 - accuracy) / n + z2 / (4 * n * n)).squareRoot()
        // at 0% and 100% the ends are exactly 0 and 1; rounding would leave them a hair inside
        return ConfidenceInterval(lower: accuracy <= 0 ? 0 : max(0, centre - half), upper: accuracy >= 1 ? 1 : min(1, centre + half))
    }

    /// `80.3%–81.8%`, as the reports print it.
    var percentRange: String { "\(percent(lower))–\(percent(upper))" }
}

/// One attack's part in the cascade.
public struct AttackOutcome: Codable, Sendable, Equatable {
    public var name: String
    /// Examples it attacked: those still robust when its turn came.
    public var attackedExamples: Int
    /// Examples it broke that no earlier attack had broken.
    public var newlyBroken: Int
    /// Robust accuracy after this attack and every earlier one (the worst case so far).
    public var robustAccuracyAfter: Double
    /// Robust accuracy against this attack alone, when it ran on every correctly classified example
    /// (the first attack of the battery always does).
    public var standaloneRobustAccuracy: Double?
    /// With a detector: adversarial examples that were misclassified but rejected, so did not count.
    public var rejectedByDetector: Int?
    public var seconds: Double
}

/// Robust accuracy at one radius.
public struct EpsilonPoint: Codable, Sendable, Equatable {
    public var epsilon: Float
    public var robustAccuracy: Double
    /// True at the threat model's ε, where the point is the battery's own result for the attack (the
    /// same number as the results table); elsewhere the attack ran again at this radius.
    public var fromBattery: Bool
}

/// One sanity check's outcome: what it measured against what threshold, and its advice when it failed.
public struct SanityCheckResult: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case passed, failed
        /// The check does not apply to this evaluation (no defense, no ε-curve, …); `measured` says why.
        case notApplicable = "not-applicable"
    }
    /// A stable identifier, e.g. `black-box-beats-white-box`.
    public var check: String
    /// What the check asks, for people.
    public var question: String
    public var status: Status
    /// The value it measured (or why it did not apply).
    public var measured: String
    /// The value beyond which it fails.
    public var threshold: String
    /// For a failed check: the warning with its evidence and what to try.
    public var warning: SanityWarning?
}

/// A named sign of an unreliable evaluation (Carlini et al. 2019, "On Evaluating Adversarial
/// Robustness"), with its evidence and what to try.
public struct SanityWarning: Codable, Sendable, Equatable {
    /// A stable identifier, e.g. `black-box-beats-white-box`.
    public var check: String
    public var message: String
    public var evidence: String
    public var suggestion: String
}
