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
    /// Signs that the evaluation may overstate robustness.
    public var warnings: [SanityWarning]
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
