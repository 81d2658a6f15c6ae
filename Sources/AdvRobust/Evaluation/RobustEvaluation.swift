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
    func judged(_ model: ModelClassifier, defense: (any InputDefense)?, attack: Int, batch: Int) -> any Classifier {
        guard let defense else { return model }
        var defenseSeeds = RandomStream(seed: seed, purpose: "defense.\(attack)", index: batch)
        let batchSeed = defenseSeeds.next()
        return DefendedClassifier(model, defense: defense, seed: batchSeed)
    }

    /// Runs the whole evaluation on `split`.
    /// - Parameters:
    ///   - state: where to resume from (a fresh state starts at the beginning).
    ///   - checkpoint: called with the state after every batch, for the caller to save.
    public func run(model: ModelClassifier, defense: (any InputDefense)?, on split: DataSplit,
                    resuming state: EvaluationState = EvaluationState(),
                    checkpoint: (EvaluationState) throws -> Void = { _ in }) throws -> EvaluationReport {
        var state = state
        if !state.hasStarted { state = start(model: model, defense: defense, split: split) }
        while state.finished.count < battery.count {
            try runCurrentAttack(&state, model: model, defense: defense, split: split, checkpoint: checkpoint)
        }
        let survivors = state.robust.filter { $0 }.count
        var report = EvaluationReport(
            threatModel: battery[0].attack.threatModel.description, defense: defense?.name,
            examples: split.count, cleanAccuracy: state.cleanAccuracy, attacks: state.finished,
            worstCaseRobustAccuracy: Double(survivors) / Double(max(split.count, 1)),
            epsilonCurve: curve(model: model, defense: defense, split: split), warnings: [])
        report.warnings = SanityChecks(evaluation: self, options: checks)
            .warnings(for: report, state: state, model: model, defense: defense, split: split)
        return report
    }

    private func start(model: ModelClassifier, defense: (any InputDefense)?, split: DataSplit) -> EvaluationState {
        var state = EvaluationState()
        state.hasStarted = true
        state.robust = [Bool](repeating: false, count: split.count)
        for (batchIndex, start) in stride(from: 0, to: split.count, by: batchSize).enumerated() {
            let range = start..<min(start + batchSize, split.count)
            let (inputs, labels) = split.batch(range)
            let predictions = judged(model, defense: defense, attack: -1, batch: batchIndex).predictions(inputs)
            for (offset, index) in range.enumerated() { state.robust[index] = predictions[offset] == labels[offset] }
        }
        state.cleanAccuracy = Double(state.robust.filter { $0 }.count) / Double(max(split.count, 1))
        state.currentTargets = state.robust.indices.filter { state.robust[$0] }
        return state
    }

    private func runCurrentAttack(_ state: inout EvaluationState, model: ModelClassifier, defense: (any InputDefense)?,
                                  split: DataSplit, checkpoint: (EvaluationState) throws -> Void) throws {
        let attackIndex = state.finished.count, entry = battery[attackIndex]
        let targets = state.currentTargets
        let batches = (targets.count + batchSize - 1) / batchSize
        while state.currentBatches < batches {
            let batch = state.currentBatches
            let indices = Array(targets[batch * batchSize..<min((batch + 1) * batchSize, targets.count)])
            let started = DispatchTime.now().uptimeNanoseconds
            let broken = attackBatch(indices, entry: entry, attackIndex: attackIndex, batch: batch,
                                     model: model, defense: defense, split: split)
            for index in broken { state.robust[index] = false }
            state.currentBroken += broken.count
            state.currentSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            state.currentBatches += 1
            try checkpoint(state)
        }
        let robustAfter = Double(state.robust.filter { $0 }.count) / Double(max(split.count, 1))
        state.finished.append(AttackOutcome(
            name: entry.name, attackedExamples: targets.count, newlyBroken: state.currentBroken,
            robustAccuracyAfter: robustAfter, standaloneRobustAccuracy: attackIndex == 0 ? robustAfter : nil,
            seconds: state.currentSeconds))
        state.currentTargets = state.robust.indices.filter { state.robust[$0] }
        state.currentBatches = 0
        state.currentBroken = 0
        state.currentSeconds = 0
        try checkpoint(state)
    }

    /// Attacks the examples `indices`; returns those the judged classifier now gets wrong.
    func attackBatch(_ indices: [Int], entry: BatteryEntry, attackIndex: Int, batch: Int,
                     model: ModelClassifier, defense: (any InputDefense)?, split: DataSplit) -> [Int] {
        guard !indices.isEmpty else { return [] }
        let inputs = Tensor(zeros: Shape(0))
        var labels: [Int] = []
        split.gather(indices[...], into: inputs, labels: &labels)
        let judgedClassifier = judged(model, defense: defense, attack: attackIndex, batch: batch)
        var rng = RandomStream(seed: seed, purpose: "attack.\(attackIndex)", index: batch)
        let result = entry.attack.perturb(inputs, labels: labels,
                                          against: entry.gradients.classifier(attacking: judgedClassifier), using: &rng)
        let predictions = judgedClassifier.predictions(result.adversarial)
        return indices.enumerated().filter { predictions[$0.offset] != labels[$0.offset] }.map(\.element)
    }

    /// Robust accuracy of the first attack, rebuilt at every radius of `epsilonCurve`.
    private func curve(model: ModelClassifier, defense: (any InputDefense)?, split: DataSplit) -> [EpsilonPoint] {
        epsilonCurve.map { epsilon in
            let entry = BatteryEntry(battery[0].attack.withEpsilon(epsilon), gradients: battery[0].gradients)
            let accuracy = robustAccuracy(of: entry, attackIndex: 1000, model: model, defense: defense, on: split)
            return EpsilonPoint(epsilon: epsilon, robustAccuracy: accuracy)
        }
    }

    /// Robust accuracy of one attack on its own, over all of `split`.
    func robustAccuracy(of entry: BatteryEntry, attackIndex: Int, model: ModelClassifier,
                        defense: (any InputDefense)?, on split: DataSplit) -> Double {
        var robust = 0
        for (batch, start) in stride(from: 0, to: split.count, by: batchSize).enumerated() {
            let indices = Array(start..<min(start + batchSize, split.count))
            let (inputs, labels) = split.batch(start..<indices.last! + 1)
            let correct = judged(model, defense: defense, attack: attackIndex, batch: batch).predictions(inputs)
            let attacked = indices.enumerated().filter { correct[$0.offset] == labels[$0.offset] }.map(\.element)
            let broken = attackBatch(attacked, entry: entry, attackIndex: attackIndex, batch: batch,
                                     model: model, defense: defense, split: split)
            robust += attacked.count - broken.count
        }
        return Double(robust) / Double(max(split.count, 1))
    }
}
