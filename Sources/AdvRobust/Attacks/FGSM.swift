import AdvNN

/// Fast Gradient Sign Method. Goodfellow, Shlens & Szegedy 2015, arXiv:1412.6572.
/// One step of size ε along the sign of the loss gradient (L∞), or along the normalised gradient (L2),
/// from the clean input, then projection into the valid range.
/// - inputs: (N, …) → adversarial: same shape.
public struct FGSM: Attack, Codable, Sendable {
    public var threatModel: ThreatModel
    public var loss: AttackLoss
    public var goal: AttackGoal

    public init(threatModel: ThreatModel, loss: AttackLoss = .crossEntropy, goal: AttackGoal = .untargeted) {
        self.threatModel = threatModel
        self.loss = loss
        self.goal = goal
    }

    public var name: String { "FGSM" }
    public var kind: AttackKind { .singleStep }

    public func withEpsilon(_ epsilon: Float) -> any Attack {
        FGSM(threatModel: threatModel.withEpsilon(epsilon), loss: loss, goal: goal)
    }

    public func perturb(_ inputs: Tensor, labels: [Int], against classifier: any Classifier,
                        using rng: inout RandomStream) -> AttackResult {
        PGD(threatModel: threatModel, stepSize: threatModel.epsilon, steps: 1, randomStart: false,
            restarts: 1, loss: loss, goal: goal)
            .perturb(inputs, labels: labels, against: classifier, using: &rng)
    }
}
