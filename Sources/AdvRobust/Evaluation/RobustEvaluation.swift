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

    /// Passes through the model per attacked example: EOT multiplies each gradient by its samples.
    public var passesPerExample: Double { attack.passesPerExample * Double(gradients.samplesPerGradient) }
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
    /// Examples correctly classified before any attack.
    public var cleanCorrect: [Bool] = []
    /// The battery index of the attack that broke each example; -1 for none.
    public var brokenBy: [Int] = []
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

    /// Seconds the attacks have run up to this state: the finished ones and the current one's batches.
    /// (What a stopped process did after its last saved state is lost with it, and counted once, by the
    /// process that does it again.)
    public var recordedAttackSeconds: Double { finished.reduce(0) { $0 + $1.seconds } + currentSeconds }
}

/// An example an attack broke, with the adversarial input that broke it (handed to the caller, which
/// keeps them for `adversarial.safetensors`).
public struct BrokenExample {
    /// Index in the evaluated split.
    public var index: Int
    /// Battery index of the attack.
    public var attack: Int
    /// The adversarial input, `itemSize` values.
    public var input: [Float]
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
    ///   - classNames: the classes' names for the per-class accuracies (default: their numbers).
    ///   - checkpoint: called after every batch with the state, for the caller to save, and the examples
    ///     the batch broke with their adversarial inputs, for the caller to keep before it saves the state.
    ///   - stage: told when the ε-curve and the sanity checks begin (the attacks report through `checkpoint`).
    /// - Returns: the report and the final state (which example each attack broke).
    public func evaluate(_ target: EvaluationTarget, on split: DataSplit, classNames: [String]? = nil,
                    resuming state: EvaluationState = EvaluationState(),
                    checkpoint: (EvaluationState, [BrokenExample]) throws -> Void = { _, _ in },
                    stage: (RunPhase, String) -> Void = { _, _ in }) throws -> (report: EvaluationReport, state: EvaluationState) {
        var state = state
        if !state.hasStarted { state = start(target, split: split) }
        while state.finished.count < battery.count {
            try runCurrentAttack(&state, target: target, split: split, checkpoint: checkpoint)
        }
        let survivors = state.robust.filter { $0 }.count
        if !epsilonCurve.isEmpty { stage(.epsilonCurve, "accuracy over ε at \(Wording.counted(epsilonCurve.count, "radius", plural: "radii"))") }
        var report = EvaluationReport(
            threatModel: battery[0].attack.threatModel.description, defense: target.defense?.name,
            detector: target.detector?.name,
            falsePositiveRate: target.detector.map { _ in Double(state.falsePositives) / Double(max(split.count, 1)) },
            examples: split.count, cleanAccuracy: state.cleanAccuracy, attacks: state.finished,
            worstCaseRobustAccuracy: Double(survivors) / Double(max(split.count, 1)),
            epsilonCurve: curve(target, split: split, state: state),
            perClass: perClassAccuracy(state, split: split, classNames: classNames ?? []), checks: nil, warnings: [])
        if checks.enabled {
            stage(.sanityChecks, "sanity checks for gradient masking")
            let results = SanityChecks(evaluation: self, options: checks).results(for: report, state: state, target: target, split: split)
            report.checks = results
            report.warnings = results.compactMap(\.warning)
        }
        return (report, state)
    }

    /// `evaluate`'s report alone.
    public func run(_ target: EvaluationTarget, on split: DataSplit, classNames: [String]? = nil,
                    resuming state: EvaluationState = EvaluationState(),
                    checkpoint: (EvaluationState, [BrokenExample]) throws -> Void = { _, _ in },
                    stage: (RunPhase, String) -> Void = { _, _ in }) throws -> EvaluationReport {
        try evaluate(target, on: split, classNames: classNames, resuming: state, checkpoint: checkpoint, stage: stage).report
    }

    /// Clean and worst-case accuracy of each class (every label that occurs, and every named class).
    private func perClassAccuracy(_ state: EvaluationState, split: DataSplit, classNames: [String]) -> [ClassAccuracy] {
        let classes = max(classNames.count, (split.labels.max() ?? -1) + 1)
        var examples = [Int](repeating: 0, count: classes), clean = examples, robust = examples
        for (index, label) in split.labels.enumerated() {
            examples[label] += 1
            if state.cleanCorrect[index] { clean[label] += 1 }
            if state.robust[index] { robust[label] += 1 }
        }
        return (0..<classes).map { label in
            ClassAccuracy(className: label < classNames.count ? classNames[label] : "\(label)", examples: examples[label],
                          cleanAccuracy: Double(clean[label]) / Double(max(examples[label], 1)),
                          robustAccuracy: Double(robust[label]) / Double(max(examples[label], 1)))
        }
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
        state.cleanCorrect = state.robust
        state.brokenBy = [Int](repeating: -1, count: split.count)
        state.cleanAccuracy = Double(state.robust.filter { $0 }.count) / Double(max(split.count, 1))
        state.currentTargets = state.robust.indices.filter { state.robust[$0] }
        return state
    }

    private func runCurrentAttack(_ state: inout EvaluationState, target: EvaluationTarget, split: DataSplit,
                                  checkpoint: (EvaluationState, [BrokenExample]) throws -> Void) throws {
        let attackIndex = state.finished.count, entry = battery[attackIndex]
        let targets = state.currentTargets
        let batches = (targets.count + batchSize - 1) / batchSize
        while state.currentBatches < batches {
            let batch = state.currentBatches
            let indices = Array(targets[batch * batchSize..<min((batch + 1) * batchSize, targets.count)])
            let started = DispatchTime.now().uptimeNanoseconds
            let outcome = attackBatch(indices, entry: entry, attackIndex: attackIndex, batch: batch, target: target, split: split)
            for example in outcome.broken {
                state.robust[example.index] = false
                state.brokenBy[example.index] = attackIndex
            }
            state.currentBroken += outcome.broken.count
            state.currentRejected += outcome.rejected
            state.currentSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            state.currentBatches += 1
            try checkpoint(state, outcome.broken)
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
        try checkpoint(state, [])
    }

    /// Attacks the examples `indices`; returns those the judged classifier now gets wrong (and the
    /// detector, if any, accepts) with their adversarial inputs, and how many misclassified adversarial
    /// inputs the detector caught.
    func attackBatch(_ indices: [Int], entry: BatteryEntry, attackIndex: Int, batch: Int,
                     target: EvaluationTarget, split: DataSplit) -> (broken: [BrokenExample], rejected: Int) {
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
        let size = split.itemSize
        let broken = misclassified.filter { !rejected[$0] }.map { position in
            BrokenExample(index: indices[position], attack: attackIndex,
                          input: Array(UnsafeBufferPointer(start: result.adversarial.data + position * size, count: size)))
        }
        return (broken, misclassified.filter { rejected[$0] }.count)
    }

    /// Robust accuracy of the first attack, rebuilt at every radius of `epsilonCurve`. At the threat
    /// model's own ε the battery already measured it (the first attack runs on every correctly classified
    /// example), so that number is reused: the curve and the results table never disagree.
    private func curve(_ target: EvaluationTarget, split: DataSplit, state: EvaluationState) -> [EpsilonPoint] {
        let first = battery[0].attack
        return epsilonCurve.map { epsilon in
            if epsilon == first.threatModel.epsilon, let measured = state.finished.first?.standaloneRobustAccuracy {
                return EpsilonPoint(epsilon: epsilon, robustAccuracy: measured, fromBattery: true)
            }
            let entry = BatteryEntry(first.withEpsilon(epsilon), gradients: battery[0].gradients)
            let accuracy = robustAccuracy(of: entry, attackIndex: 1000, target: target, on: split)
            return EpsilonPoint(epsilon: epsilon, robustAccuracy: accuracy, fromBattery: false)
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
