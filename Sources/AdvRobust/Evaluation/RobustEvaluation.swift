/// Evaluation that deserves belief: clean accuracy, a battery of attacks run as a cascade (each attack
/// only on the examples still robust, as AutoAttack does), the per-example worst case, robust accuracy
/// over a list of ε, and the sanity checks of `SanityChecks`.
///
/// Order the battery strongest first: then any success of a later, weaker attack (FGSM after PGD,
/// the gradient-free Square attack after the gradient attacks) is itself evidence of gradient masking.
///
/// Determinism: attack k on batch b draws from the stream ("attack.k", seed, b), and a randomised
/// defense from ("defense.k", seed, b), so a resumed evaluation gives exactly the same numbers.
import AdvNN
import Foundation

/// One attack of a battery and how it gets its gradients.
public struct BatteryEntry {
    public var attack: any Attack
    public var gradients: GradientEstimation

    public init(_ attack: any Attack, gradients: GradientEstimation = .direct) {
        self.attack = attack
        self.gradients = gradients
    }

    public var name: String { attack.name + gradients.label }
}

/// What an evaluation attacks: the model, an optional defense in front of it, and an optional detector
/// beside it. With a detector an attack succeeds only if its output is misclassified and not rejected.
public struct EvaluationTarget {
    public var model: ModelClassifier
    public var defense: (any InputDefense)?
    public var detector: (any Detector)?

    public init(model: ModelClassifier, defense: (any InputDefense)? = nil, detector: (any Detector)? = nil) {
        self.model = model
        self.defense = defense
        self.detector = detector
    }
}

/// Where a running evaluation stands; saved after every batch so that it can resume.
public struct EvaluationState: Codable, Sendable, Equatable {
    /// Examples correctly classified and not yet broken.
    public var robust: [Bool] = []
    public var cleanAccuracy = 0.0
    /// Outcomes of the attacks already finished.
    public var finished: [AttackOutcome] = []
    /// The examples the current attack runs on (robust when it started) and how many batches are done.
    public var currentTargets: [Int] = []
    public var currentBatches = 0
    public var currentBroken = 0
    public var currentSeconds = 0.0
    public var hasStarted = false
    /// With a detector: clean examples it rejects, and adversarial examples it caught in the current attack.
    public var falsePositives = 0
    public var currentRejected = 0

    public init() {}
}

/// Runs a battery against a (possibly defended) model.
public struct RobustEvaluation {
    public var battery: [BatteryEntry]
    public var batchSize: Int
    public var seed: UInt64
    /// Radii for the robust-accuracy curve, attacked with the battery's first attack; empty: no curve.
    public var epsilonCurve: [Float]
    public var checks: SanityCheckOptions

    public init(battery: [BatteryEntry], batchSize: Int = 256, seed: UInt64 = 0, epsilonCurve: [Float] = [],
                checks: SanityCheckOptions = SanityCheckOptions()) {
        precondition(!battery.isEmpty, "an evaluation needs at least one attack")
        self.battery = battery
        self.batchSize = batchSize
        self.seed = seed
        self.epsilonCurve = epsilonCurve
        self.checks = checks
    }

    /// The classifier attacks are judged against for batch `index` of attack `attack`: the model, or the
    /// model behind the defense with its randomness seeded for that batch.
    func judged(_ target: EvaluationTarget, attack: Int, batch: Int) -> any Classifier {
        let model = target.model
        guard let defense = target.defense else { return model }
        var defenseSeeds = RandomStream(seed: seed, purpose: "defense.\(attack)", index: batch)
        let batchSeed = defenseSeeds.next()
        return DefendedClassifier(model, defense: defense, seed: batchSeed)
    }

    /// Runs the whole evaluation on `split`.
    /// - Parameters:
    ///   - state: where to resume from (a fresh state starts at the beginning).
    ///   - checkpoint: called with the state after every batch, for the caller to save.
    ///   - stage: told when the ε-curve and the sanity checks begin (the attacks report through `checkpoint`).
    public func run(_ target: EvaluationTarget, on split: DataSplit,
                    resuming state: EvaluationState = EvaluationState(),
                    checkpoint: (EvaluationState) throws -> Void = { _ in },
                    stage: (RunPhase, String) -> Void = { _, _ in }) throws -> EvaluationReport {
        var state = state
        if !state.hasStarted { state = start(target, split: split) }
        while state.finished.count < battery.count {
            try runCurrentAttack(&state, target: target, split: split, checkpoint: checkpoint)
        }
        let survivors = state.robust.filter { $0 }.count
        if !epsilonCurve.isEmpty { stage(.epsilonCurve, "accuracy over ε at \(epsilonCurve.count) radii") }
        var report = EvaluationReport(
            threatModel: battery[0].attack.threatModel.description, defense: target.defense?.name,
            detector: target.detector?.name,
            falsePositiveRate: target.detector.map { _ in Double(state.falsePositives) / Double(max(split.count, 1)) },
            examples: split.count, cleanAccuracy: state.cleanAccuracy, attacks: state.finished,
            worstCaseRobustAccuracy: Double(survivors) / Double(max(split.count, 1)),
            epsilonCurve: curve(target, split: split), warnings: [])
        if checks.enabled { stage(.sanityChecks, "sanity checks for gradient masking") }
        report.warnings = SanityChecks(evaluation: self, options: checks).warnings(for: report, state: state, target: target, split: split)
        return report
    }

    private func start(_ target: EvaluationTarget, split: DataSplit) -> EvaluationState {
        var state = EvaluationState()
        state.hasStarted = true
        state.robust = [Bool](repeating: false, count: split.count)
        for (batchIndex, start) in stride(from: 0, to: split.count, by: batchSize).enumerated() {
            let range = start..<min(start + batchSize, split.count)
            let (inputs, labels) = split.batch(range)
            let predictions = judged(target, attack: -1, batch: batchIndex).predictions(inputs)
            for (offset, index) in range.enumerated() { state.robust[index] = predictions[offset] == labels[offset] }
            if let detector = target.detector {
                state.falsePositives += detector.rejects(inputs, model: target.model.model).filter { $0 }.count
            }
        }
        state.cleanAccuracy = Double(state.robust.filter { $0 }.count) / Double(max(split.count, 1))
        state.currentTargets = state.robust.indices.filter { state.robust[$0] }
        return state
    }

    private func runCurrentAttack(_ state: inout EvaluationState, target: EvaluationTarget, split: DataSplit,
                                  checkpoint: (EvaluationState) throws -> Void) throws {
        let attackIndex = state.finished.count, entry = battery[attackIndex]
        let targets = state.currentTargets
        let batches = (targets.count + batchSize - 1) / batchSize
        while state.currentBatches < batches {
            let batch = state.currentBatches
            let indices = Array(targets[batch * batchSize..<min((batch + 1) * batchSize, targets.count)])
            let started = DispatchTime.now().uptimeNanoseconds
            let outcome = attackBatch(indices, entry: entry, attackIndex: attackIndex, batch: batch, target: target, split: split)
            for index in outcome.broken { state.robust[index] = false }
            state.currentBroken += outcome.broken.count
            state.currentRejected += outcome.rejected
            state.currentSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            state.currentBatches += 1
            try checkpoint(state)
        }
        let robustAfter = Double(state.robust.filter { $0 }.count) / Double(max(split.count, 1))
        state.finished.append(AttackOutcome(
            name: entry.name, attackedExamples: targets.count, newlyBroken: state.currentBroken,
            robustAccuracyAfter: robustAfter, standaloneRobustAccuracy: attackIndex == 0 ? robustAfter : nil,
            rejectedByDetector: target.detector == nil ? nil : state.currentRejected, seconds: state.currentSeconds))
        state.currentTargets = state.robust.indices.filter { state.robust[$0] }
        state.currentBatches = 0
        state.currentBroken = 0
        state.currentRejected = 0
        state.currentSeconds = 0
        try checkpoint(state)
    }

    /// Attacks the examples `indices`; returns those the judged classifier now gets wrong (and the
    /// detector, if any, accepts), and how many misclassified adversarial inputs the detector caught.
    func attackBatch(_ indices: [Int], entry: BatteryEntry, attackIndex: Int, batch: Int,
                     target: EvaluationTarget, split: DataSplit) -> (broken: [Int], rejected: Int) {
        guard !indices.isEmpty else { return ([], 0) }
        let inputs = Tensor(zeros: Shape(0))
        var labels: [Int] = []
        split.gather(indices[...], into: inputs, labels: &labels)
        let judgedClassifier = judged(target, attack: attackIndex, batch: batch)
        var rng = RandomStream(seed: seed, purpose: "attack.\(attackIndex)", index: batch)
        let result = entry.attack.perturb(inputs, labels: labels,
                                          against: entry.gradients.classifier(attacking: judgedClassifier), using: &rng)
        let predictions = judgedClassifier.predictions(result.adversarial)
        let rejected = target.detector?.rejects(result.adversarial, model: target.model.model)
            ?? [Bool](repeating: false, count: indices.count)
        let misclassified = indices.indices.filter { predictions[$0] != labels[$0] }
        return (misclassified.filter { !rejected[$0] }.map { indices[$0] }, misclassified.filter { rejected[$0] }.count)
    }

    /// Robust accuracy of the first attack, rebuilt at every radius of `epsilonCurve`.
    private func curve(_ target: EvaluationTarget, split: DataSplit) -> [EpsilonPoint] {
        epsilonCurve.map { epsilon in
            let entry = BatteryEntry(battery[0].attack.withEpsilon(epsilon), gradients: battery[0].gradients)
            let accuracy = robustAccuracy(of: entry, attackIndex: 1000, target: target, on: split)
            return EpsilonPoint(epsilon: epsilon, robustAccuracy: accuracy)
        }
    }

    /// Robust accuracy of one attack on its own, over all of `split`.
    func robustAccuracy(of entry: BatteryEntry, attackIndex: Int, target: EvaluationTarget, on split: DataSplit) -> Double {
        var robust = 0
        for (batch, start) in stride(from: 0, to: split.count, by: batchSize).enumerated() {
            let range = start..<min(start + batchSize, split.count), indices = Array(range)
            let (inputs, labels) = split.batch(range)
            let correct = judged(target, attack: attackIndex, batch: batch).predictions(inputs)
            let attacked = indices.enumerated().filter { correct[$0.offset] == labels[$0.offset] }.map(\.element)
            let broken = attackBatch(attacked, entry: entry, attackIndex: attackIndex, batch: batch, target: target, split: split)
            robust += attacked.count - broken.broken.count
        }
        return Double(robust) / Double(max(split.count, 1))
    }
}
