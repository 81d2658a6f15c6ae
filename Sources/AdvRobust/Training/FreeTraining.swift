import AdvNN

/// Free adversarial training (Shafahi et al. 2019, "Adversarial Training for Free!", arXiv:1904.12843):
/// every minibatch is replayed `replays` (m) times; each replay trains on x + δ and, from the same
/// backward pass, moves δ by ε·sign(∇ₓ) within the ε-ball — the attack costs no extra gradients. δ is
/// carried from replay to replay and from minibatch to minibatch (and saved in checkpoints). Divide the
/// epochs by m to spend what standard training would.
public struct FreeTraining: TrainingMethod {
    public let name = "free-at"
    public var threatModel: ThreatModel
    public var replays: Int
    /// Each step replays its batch `replays` times, one pass each.
    public var passesPerExample: Int { replays }
    private let delta = Tensor(zeros: Shape(0))
    private let adversarial = Tensor(zeros: Shape(0))
    private let dLogits = Tensor(zeros: Shape(0, 0))
    private let origin = Tensor(zeros: Shape(0))
    /// The ε-ball around 0 without the valid range: δ itself is not an input (x + δ is projected at use).
    private let ball: ThreatModel

    public init(threatModel: ThreatModel, replays: Int = 8) {
        precondition(replays >= 1, "free AT needs at least one replay")
        self.threatModel = threatModel
        self.replays = replays
        ball = ThreatModel(norm: threatModel.norm, epsilon: threatModel.epsilon, valueRange: nil)
    }

    public var namedState: [(name: String, tensor: Tensor)] { [("delta", delta)] }

    public mutating func step(model: Sequential, inputs: Tensor, labels: [Int], optimizer: any Optimizer,
                              rng: inout RandomStream, position: TrainingPosition) -> StepResult {
        // δ keeps its values across minibatches of one size; a new size (the last batch) starts from 0
        if delta.shape != inputs.shape {
            delta.resize(to: inputs.shape)
            delta.zero()
        }
        model.isTraining = true
        var lossSum: Float = 0, correct = 0
        for _ in 0..<replays {
            adversarial.assign(inputs)
            for i in 0..<adversarial.count { adversarial[i] += delta[i] }
            threatModel.project(adversarial, around: inputs)
            optimizer.zeroGradients()
            let logits = model.forward(adversarial)
            lossSum += CrossEntropy().compute(logits: logits, labels: labels, reduction: .mean, gradient: dLogits, perExample: nil)
            correct = Metrics.correctCount(logits: logits, labels: labels)
            // one backward pass: parameter gradients for the update and the input gradient for δ
            let dInput = model.backward(dLogits, request: .training)!
            optimizer.step()
            threatModel.ascend(delta, along: dInput, stepSize: threatModel.epsilon)
            origin.resize(to: delta.shape)
            origin.zero()
            ball.project(delta, around: origin)
        }
        return StepResult(loss: lossSum / Float(replays), correct: correct)
    }
}

extension RegistryEntry where Part == any TrainingMethod, Context == TrainingMethodContext {
    public static let freeAT = TrainingMethodEntry(
        name: "free-at", summary: "free adversarial training (Shafahi et al. 2019): each batch replayed m times, the attack reusing the training gradients",
        keys: [epsilon, .init("replays", .integer(1...100), default: .value(.integer(8)), doc: "m: how many times each batch is replayed")],
        make: { spec, context in FreeTraining(threatModel: threatModel(spec, context), replays: spec.int("replays")) })
}
