import AdvNN

/// TRADES (Zhang et al. 2019, arXiv:1901.08573): minimise CE(f(x), y) + β·KL(f(x) ‖ f(x′)), where the
/// inner attack finds x′ in the ε-ball that maximises the KL term (PGD on the KL divergence from a
/// point 0.001·N(0, 1) away from x, with the model in evaluation mode). The update back-propagates
/// through both forward passes — the clean one and a replica that shares the parameters for x′ — in
/// training mode. Defaults from the paper: β = 6, 10 steps of ε/4.
///
/// With `carriesPerturbations` each example's KL attack continues from where its last visit left it
/// (`CarriedPerturbations`, as ATTA does; Zheng et al. 2020 call this ATTA-TRADES), so one or two steps
/// per visit add up over the epochs; the first visit starts near x as above.
public struct TRADES: TrainingMethod {
    public let name = "trades"
    public var threatModel: ThreatModel
    public var beta: Float
    public var steps: Int
    /// The KL attack's steps plus the update, each a pass of clean and adversarial inputs.
    public var passesPerExample: Int { steps + 2 }
    public var stepSize: Float
    public var carriesPerturbations: Bool
    private let carried = CarriedPerturbations()
    private var adversarialReplica: Sequential?
    private let cleanLogits = Tensor(zeros: Shape(0, 0))
    private let dLogits = Tensor(zeros: Shape(0, 0)), dKLClean = Tensor(zeros: Shape(0, 0))
    private let dKLAdversarial = Tensor(zeros: Shape(0, 0))

    public init(threatModel: ThreatModel, beta: Float = 6, steps: Int = 10, stepSize: Float? = nil,
                carriesPerturbations: Bool = false) {
        self.threatModel = threatModel
        self.beta = beta
        self.steps = steps
        self.stepSize = stepSize ?? threatModel.epsilon / 4
        self.carriesPerturbations = carriesPerturbations
    }

    public var namedState: [(name: String, tensor: Tensor)] { carriesPerturbations ? carried.namedState : [] }

    /// x′ maximising KL(f(x) ‖ f(x′)) in the ε-ball, with the model in evaluation mode.
    func adversarialExamples(model: Sequential, inputs: Tensor, rng: inout RandomStream, position: TrainingPosition) -> Tensor {
        model.isTraining = false
        cleanLogits.assign(model.forward(inputs))
        let adversarial = inputs.copy(), gradient = Tensor(zeros: inputs.shape)
        for i in 0..<adversarial.count { adversarial[i] += 0.001 * rng.nextNormal() }
        if carriesPerturbations { carried.continueAttacks(in: adversarial, inputs: inputs, position: position) }
        threatModel.project(adversarial, around: inputs)
        for _ in 0..<steps {
            let logits = model.forward(adversarial)
            _ = KLDivergence().compute(reference: cleanLogits, other: logits, reduction: .sum, gradientOther: dKLAdversarial)
            gradient.assign(model.backward(dKLAdversarial, request: .inputOnly)!)
            threatModel.ascend(adversarial, along: gradient, stepSize: stepSize)
            threatModel.project(adversarial, around: inputs)
        }
        if carriesPerturbations { carried.remember(adversarial, inputs: inputs, position: position) }
        return adversarial
    }

    public mutating func step(model: Sequential, inputs: Tensor, labels: [Int], optimizer: any Optimizer,
                              rng: inout RandomStream, position: TrainingPosition) -> StepResult {
        if adversarialReplica == nil { adversarialReplica = model.replica() }
        let adversarial = adversarialExamples(model: model, inputs: inputs, rng: &rng, position: position)
        optimizer.zeroGradients()
        let result = accumulateGradients(model: model, replica: adversarialReplica!, inputs: inputs,
                                         adversarial: adversarial, labels: labels)
        optimizer.step()
        return result
    }

    /// The outer objective CE(f(x), y) + β·KL(f(x) ‖ f(x′)) (batch means), with its gradient added to the
    /// parameters through both forward passes, in training mode.
    /// - Parameter replica: a replica of `model` (shared parameters) for the adversarial pass.
    public func accumulateGradients(model: Sequential, replica: Sequential, inputs: Tensor, adversarial: Tensor,
                                    labels: [Int]) -> StepResult {
        model.isTraining = true
        replica.isTraining = true
        let clean = model.forward(inputs), perturbed = replica.forward(adversarial)
        // (1) CE on the clean batch, (2) β·KL(clean ‖ adversarial)
        let crossEntropy = CrossEntropy().compute(logits: clean, labels: labels, reduction: .mean, gradient: dLogits, perExample: nil)
        let kl = KLDivergence().compute(reference: clean, other: perturbed, reduction: .mean,
                                        gradientReference: dKLClean, gradientOther: dKLAdversarial)
        for i in 0..<dLogits.count { dLogits[i] += beta * dKLClean[i] }
        for i in 0..<dKLAdversarial.count { dKLAdversarial[i] *= beta }
        let correct = Metrics.correctCount(logits: clean, labels: labels)
        _ = replica.backward(dKLAdversarial, request: .parametersOnly)
        _ = model.backward(dLogits, request: .parametersOnly)
        return StepResult(loss: crossEntropy + beta * kl, correct: correct)
    }
}

extension RegistryEntry where Part == any TrainingMethod, Context == TrainingMethodContext {
    public static let trades = TrainingMethodEntry(
        name: "trades", summary: "TRADES (Zhang et al. 2019): cross-entropy plus β times the KL divergence to the worst point of the ball",
        keys: [epsilon, steps, stepSize,
               .init("beta", .number(0...1000, lowerIsOpen: false), default: .value(.number(6)), doc: "β, the weight of the KL term"),
               .init("carry_perturbations", .flag, default: .value(.flag(false)),
                     doc: "continue each example's attack from where its last visit left it (ATTA-TRADES; Zheng et al. 2020), so a few steps per visit add up over the epochs")],
        make: { spec, context in
            TRADES(threatModel: threatModel(spec, context), beta: spec.float("beta"), steps: spec.int("steps"),
                   stepSize: spec.float("step_size"), carriesPerturbations: spec.bool("carry_perturbations"))
        })
}
