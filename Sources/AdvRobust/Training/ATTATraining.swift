import AdvNN

/// Adversarial training with transferable adversarial examples (ATTA; Zheng et al. 2020, "Efficient
/// Adversarial Training with Transferable Adversarial Examples", CVPR, arXiv:1912.11969). Adversarial
/// examples of one epoch's model stay adversarial for the next epoch's, so each training example keeps
/// its perturbation from epoch to epoch and every visit continues the attack with a few PGD steps
/// instead of starting over: after e epochs an example has had e·k steps of attack for the price of k
/// per epoch. An example's first attack starts from a random point of the ε-ball, as PGD training's
/// does. The attack runs in evaluation mode, the update in training mode, as in `PGDTraining`.
///
/// The perturbations are the method's state (`method.perturbations`, one row per training example, so
/// as large as the training split; and `method.attacked`, 1 for the examples attacked so far): they
/// are saved in every checkpoint, so a resumed run is bit-identical.
public struct ATTATraining: TrainingMethod {
    public let name = "atta"
    public var threatModel: ThreatModel
    public var stepSize: Float
    /// PGD steps per visit of an example (k).
    public var steps: Int
    public var passesPerExample: Int { steps + 1 }
    /// (examples, item size): each example's perturbation δ = x_adv − x after its last visit.
    private let perturbations = Tensor(zeros: Shape(0))
    /// (examples): 1 once an example has been attacked, else 0.
    private let attacked = Tensor(zeros: Shape(0))
    private let adversarial = Tensor(zeros: Shape(0))
    private let gradient = Tensor(zeros: Shape(0))
    private var update = StandardTraining()

    public init(threatModel: ThreatModel, stepSize: Float, steps: Int = 1) {
        precondition(steps >= 1, "ATTA needs at least one step per visit")
        self.threatModel = threatModel
        self.stepSize = stepSize
        self.steps = steps
    }

    public var namedState: [(name: String, tensor: Tensor)] { [("perturbations", perturbations), ("attacked", attacked)] }

    public mutating func step(model: Sequential, inputs: Tensor, labels: [Int], optimizer: any Optimizer,
                              rng: inout RandomStream, position: TrainingPosition) -> StepResult {
        let batchSize = labels.count, itemSize = inputs.shape.elementsPerItem
        precondition(position.examples.count == batchSize, "ATTA needs each batch example's index (TrainingPosition.examples)")
        // the state is sized on the first step (a resumed run restores it already sized)
        if perturbations.shape != Shape(position.exampleCount, itemSize) {
            precondition(perturbations.count == 0, "ATTA's stored perturbations are \(perturbations.shape), the run has \(position.exampleCount) examples of \(itemSize)")
            perturbations.resize(to: Shape(position.exampleCount, itemSize))
            perturbations.zero()
            attacked.resize(to: Shape(position.exampleCount))
            attacked.zero()
        }
        // the start: the example's perturbation from its last visit, or a random point of the ball at
        // the first (drawn for the whole batch, so the stream advances the same way at every step)
        threatModel.randomPoint(around: inputs, into: adversarial, rng: &rng)
        for (row, example) in position.examples.enumerated() where attacked[example] != 0 {
            let start = adversarial.data + row * itemSize, clean = inputs.data + row * itemSize
            let stored = perturbations.data + example * itemSize
            for index in 0..<itemSize { start[index] = clean[index] + stored[index] }
        }
        threatModel.project(adversarial, around: inputs)
        // k steps of PGD on the cross-entropy, in evaluation mode
        let classifier = ModelClassifier(model, classCount: model.outputShape(for: inputs.shape)[1])
        gradient.resize(to: inputs.shape)
        PGD(threatModel: threatModel, stepSize: stepSize, steps: steps)
            .ascend(adversarial, around: inputs, labels: labels, objective: AttackObjective(loss: .crossEntropy, isTargeted: false),
                    against: classifier, gradient: gradient)
        // remember where each example's attack got to, for its next visit
        for (row, example) in position.examples.enumerated() {
            let reached = adversarial.data + row * itemSize, clean = inputs.data + row * itemSize
            let stored = perturbations.data + example * itemSize
            for index in 0..<itemSize { stored[index] = reached[index] - clean[index] }
            attacked[example] = 1
        }
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
        notes: Dictionary(uniqueKeysWithValues: ["random_start", "loss", "warmup_epochs", "replays", "beta"].map {
            ($0, "atta starts from each example's carried perturbation (a random point at its first visit) and ascends the cross-entropy; it takes epsilon, steps and step_size")
        }),
        make: { spec, context in
            ATTATraining(threatModel: threatModel(spec, context), stepSize: spec.float("step_size"), steps: spec.int("steps"))
        })
}
