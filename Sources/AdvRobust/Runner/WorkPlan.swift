import AdvNN

/// How much work each stage of a run is, in passes through the model (one forward and backward pass
/// of one example), so that progress and its ETA cover the whole run — training and the evaluation
/// after it — rather than the stage at hand. Attack costs are upper bounds: a cascade's later
/// attacks run only on the examples still robust.
public struct WorkPlan: Sendable, Equatable {
    /// The teacher's training (self-training), then the model's.
    public var teacherPasses: Double
    public var trainingPasses: Double
    /// Each attack of the battery on every evaluated example.
    public var attackPasses: [Double]
    public var epsilonCurvePasses: Double
    public var sanityCheckPasses: Double

    public var total: Double {
        teacherPasses + trainingPasses + attackPasses.reduce(0, +) + epsilonCurvePasses + sanityCheckPasses
    }

    /// The fraction of the whole run done when `phase` has come `fraction` of its way (0…1); phases
    /// without a measure of their own (loading, calibrating, writing) count as their start.
    public func fractionDone(in phase: RunPhase, fraction: Double) -> Double {
        let attacks = attackPasses.reduce(0, +)
        let done: Double
        switch phase {
        case .loading: done = 0
        case .teacher: done = teacherPasses * fraction
        case .pseudoLabelling, .calibratingDetector: done = teacherPasses + (phase == .calibratingDetector ? trainingPasses : 0)
        case .training: done = teacherPasses + trainingPasses * fraction
        case let .evaluating(attack, _):
            let before = attackPasses.prefix(max(attack - 1, 0)).reduce(0, +)
            let current = attack - 1 < attackPasses.count ? attackPasses[attack - 1] : 0
            done = teacherPasses + trainingPasses + before + current * fraction
        case .epsilonCurve: done = teacherPasses + trainingPasses + attacks + epsilonCurvePasses * fraction
        case .sanityChecks: done = teacherPasses + trainingPasses + attacks + epsilonCurvePasses + sanityCheckPasses * fraction
        case .writing: done = total
        }
        return total > 0 ? min(max(done / total, 0), 1) : 0
    }
}

extension RobustEvaluation {
    /// The evaluation's part of a work plan for `examples` evaluated examples.
    func plannedPasses(examples: Int) -> (attacks: [Double], curve: Double, checks: Double) {
        let n = Double(examples), threat = battery[0].attack.threatModel.epsilon
        let attacks = battery.map { $0.passesPerExample * n }
        let curve = Double(epsilonCurve.filter { $0 != threat }.count) * battery[0].passesPerExample * n
        guard checks.enabled else { return (attacks, curve, 0) }
        let probe = Double(min(checks.probeExamples, examples))
        let iterative = battery.first { $0.attack.kind == .iterative }?.passesPerExample ?? 0
        let gradient = battery.first { $0.attack.kind != .gradientFree }?.passesPerExample ?? battery[0].passesPerExample
        let factor = Double(checks.convergenceFactor * checks.convergenceFactor)
        return (attacks, curve, probe * (iterative * factor + gradient + 2))
    }
}
