import AdvNN

/// Adversarial training with transferable adversarial examples (ATTA; Zheng et al. 2020, "Efficient
/// Adversarial Training with Transferable Adversarial Examples", CVPR, arXiv:1912.11969). Adversarial
/// examples of one epoch's model stay adversarial for the next epoch's, so each training example keeps
/// its perturbation from epoch to epoch and every visit continues the attack with a few PGD steps
/// instead of starting over: after e epochs an example has had e·k steps of attack for the price of k
/// per epoch. An example's first attack starts from a random point of the ε-ball, as PGD training's
/// does. The attack runs in evaluation mode, the update in training mode, as in `PGDTraining`.
///
/// The perturbations are the method's state (`CarriedPerturbations`: `method.perturbations` and
/// `method.attacked` in a checkpoint), saved in every checkpoint, so a resumed run is bit-identical.
/// TRADES carries its KL attack's perturbations the same way with `carry_perturbations`.
public struct ATTATraining: TrainingMethod {
    public let name = "atta"
    public var threatModel: ThreatModel
    public var stepSize: Float
    /// PGD steps per visit of an example (k).
    public var steps: Int
    public var passesPerExample: Int { steps + 1 }
    private let carried = CarriedPerturbations()
    private let adversarial = Tensor(zeros: Shape(0))
    private let gradient = Tensor(zeros: Shape(0))
    private var update = StandardTraining()

    public init(threatModel: ThreatModel, stepSize: Float, steps: Int = 1) {
        precondition(steps >= 1, "ATTA needs at least one step per visit")
        self.threatModel = threatModel
        self.stepSize = stepSize
        self.steps = steps
    }

    public var namedState: [(name: String, tensor: Tensor)] { carried.namedState }

    public mutating func step(model: Sequential, inputs: Tensor, labels: [Int], optimizer: any Optimizer,
                              rng: inout RandomStream, position: TrainingPosition) -> StepResult {
        // the start: the example's perturbation from its last visit, or a random point of the ball at
        // the first
        threatModel.randomPoint(around: inputs, into: adversarial, rng: &rng)
        carried.continueAttacks(in: adversarial, inputs: inputs, position: position)
        threatModel.project(adversarial, around: inputs)
        // k steps of PGD on the cross-entropy, in evaluation mode
        let classifier = ModelClassifier(model, classCount: model.outputShape(for: inputs.shape)[1])
        gradient.resize(to: inputs.shape)
        PGD(threatModel: threatModel, stepSize: stepSize, steps: steps)
            .ascend(adversarial, around: inputs, labels: labels, objective: AttackObjective(loss: .crossEntropy, isTargeted: false),
                    against: classifier, gradient: gradient)
        carried.remember(adversarial, inputs: inputs, position: position)
        // the outer minimisation on the adversarial batch, in training mode
        model.isTraining = true
        return update.step(model: model, inputs: adversarial, labels: labels, optimizer: optimizer, rng: &rng, position: position)
    }
}

extension RegistryEntry where Part == any TrainingMethod, Context == TrainingMethodContext {
    public static let atta = TrainingMethodEntry(
        name: "atta",
        summary: "ATTA (Zheng et al. 2020): each example's perturbation carried from epoch to epoch, continued by a few PGD steps per visit",
        keys: [epsilon,
               .init("steps", .integer(1...10_000), default: .value(.integer(1)), doc: "PGD steps per visit of an example (k)"),
               stepSize(doc: "each step's size; a perturbation moves at most steps × step_size per epoch, so keep epochs × steps × step_size well above 2ε")],
        notes: Dictionary(uniqueKeysWithValues: ["random_start", "loss", "warmup_epochs", "replays", "beta", "carry_perturbations"].map {
            ($0, "atta starts from each example's carried perturbation (a random point at its first visit) and ascends the cross-entropy; it takes epsilon, steps and step_size")
        }),
        make: { spec, context in
            ATTATraining(threatModel: threatModel(spec, context), stepSize: spec.float("step_size"), steps: spec.int("steps"))
        })
}
