import AdvNN

/// PGD adversarial training (Madry et al. 2018, arXiv:1706.06083): every step replaces the batch by
/// PGD adversarial examples of the current model and trains on those, minimising the robust loss
/// max_{‖δ‖≤ε} ℓ(x + δ, y). The attack runs with the model in evaluation mode (BatchNorm's running
/// statistics, and no update of them) and the update in training mode. With `warmupEpochs`, ε grows
/// linearly from 0 to its value over the first epochs, which helps small models start learning.
/// Random starts draw from the run's saved training stream, so a resumed run is bit-identical.
public struct PGDTraining: TrainingMethod {
    public let name: String
    public var attack: PGD
    public var warmupEpochs: Double
    public var passesPerExample: Int { attack.steps * attack.restarts + 1 }
    /// The outer minimisation: a standard step, on the adversarial batch.
    private var update = StandardTraining()
    /// Fast AT's guard against catastrophic overfitting; nil: none.
    public var overfittingGuard: OverfittingGuard?
    /// The guard's record: (best held-out PGD accuracy, its epoch), and the weights of that epoch.
    let best = Tensor(zeros: Shape(0))
    let bestWeights = Tensor(zeros: Shape(0))

    public init(attack: PGD, warmupEpochs: Double = 0, name: String = "pgd-at") {
        self.attack = attack
        self.warmupEpochs = warmupEpochs
        self.name = name
    }

    /// Fast adversarial training (Wong, Rice & Kolter 2020, "Fast is better than free"): FGSM from a
    /// uniformly random start with step 1.25ε — one gradient per batch instead of PGD's ten. Pair it
    /// with the one-cycle learning-rate schedule, as the paper does.
    /// `guarded` adds the overfitting guard with a PGD-10 probe (step ε/4, random start).
    public static func fast(threatModel: ThreatModel, guarded: Bool = true) -> PGDTraining {
        var training = PGDTraining(attack: PGD(threatModel: threatModel, stepSize: 1.25 * threatModel.epsilon, steps: 1,
                                               randomStart: true), name: "fast-at")
        if guarded { training.overfittingGuard = OverfittingGuard(probe: PGD(threatModel: threatModel, steps: 10)) }
        return training
    }

    public var namedState: [(name: String, tensor: Tensor)] {
        overfittingGuard == nil ? [] : [("guard_best", best), ("guard_best_weights", bestWeights)]
    }

    public mutating func endEpoch(_ epoch: Int, model: Sequential, heldOut: () -> (inputs: Tensor, labels: [Int]),
                                  rng: inout RandomStream) -> String? {
        guard overfittingGuard != nil else { return nil }
        let batch = heldOut()
        // without validation examples there is nothing to watch (the manifest refuses that combination)
        guard !batch.labels.isEmpty else { return nil }
        return guardEpoch(epoch, model: model, heldOut: batch, rng: &rng)
    }

    /// The attack at the radius for `position`: ε·min(1, epoch / warmupEpochs), step size in proportion.
    public func attack(at position: TrainingPosition) -> PGD {
        guard warmupEpochs > 0, position.epoch < warmupEpochs else { return attack }
        let fraction = Float(position.epoch / warmupEpochs)
        var scaled = attack
        scaled.threatModel.epsilon = attack.threatModel.epsilon * fraction
        scaled.stepSize = attack.stepSize * fraction
        return scaled
    }

    public mutating func step(model: Sequential, inputs: Tensor, labels: [Int], optimizer: any Optimizer,
                              rng: inout RandomStream, position: TrainingPosition) -> StepResult {
        // (1) the inner maximisation, in evaluation mode
        let classifier = ModelClassifier(model, classCount: model.outputShape(for: inputs.shape)[1])
        let adversarial = attack(at: position).lastIterate(inputs, labels: labels, against: classifier, using: &rng)
        // (2) the outer minimisation on the adversarial batch, in training mode
        model.isTraining = true
        return update.step(model: model, inputs: adversarial, labels: labels, optimizer: optimizer, rng: &rng, position: position)
    }
}

extension RegistryEntry where Part == any TrainingMethod, Context == TrainingMethodContext {
    public static let pgdAT: TrainingMethodEntry = {
        let losses = ChoiceTable<AttackLoss>([
            ("ce", "cross-entropy", { _ in .crossEntropy }),
            ("cw", "the Carlini–Wagner margin (κ = 0)", { _ in .carliniWagner(confidence: 0) }),
        ])
        return TrainingMethodEntry(
            name: "pgd-at", summary: "PGD adversarial training (Madry et al. 2018): every batch replaced by its PGD examples",
            keys: [epsilon, steps, stepSize,
                   .init("random_start", .flag, default: .value(.flag(true)), doc: "start each attack at a random point of the ball"),
                   .init("loss", .choice(losses.choices), default: .value(.text("ce")), doc: "the loss the inner attack ascends"),
                   .init("warmup_epochs", .number(0...100_000, lowerIsOpen: false), default: .value(.number(0)),
                         doc: "epochs over which ε grows linearly from 0")],
            make: { spec, context in
                let attack = PGD(threatModel: threatModel(spec, context), stepSize: spec.float("step_size"), steps: spec.int("steps"),
                                 randomStart: spec.bool("random_start"), loss: losses.value(for: "loss", in: spec))
                return PGDTraining(attack: attack, warmupEpochs: Double(spec.float("warmup_epochs")))
            })
    }()

    public static let fastAT: TrainingMethodEntry = {
        let definition = "fast-at is FGSM from a random start with step 1.25ε, by definition; it takes epsilon only"
        return TrainingMethodEntry(
            name: "fast-at",
            summary: "fast adversarial training (Wong et al. 2020): FGSM from a random start, step 1.25ε, with a guard against catastrophic overfitting",
            keys: [epsilon],
            notes: Dictionary(uniqueKeysWithValues: ["steps", "step_size", "random_start", "loss", "warmup_epochs", "replays", "beta", "carry_perturbations"]
                .map { ($0, definition) }),
            make: { spec, context in PGDTraining.fast(threatModel: threatModel(spec, context)) })
    }()
}
