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

extension RegistryEntry where Part == BatteryEntry, Context == AttackContext {
    /// `fgsm` in a manifest's battery.
    public static let fgsm: AttackEntry = {
        let oneStep = "fgsm takes one step of size ε from the clean input; use pgd for steps, step sizes, restarts and random starts"
        return AttackEntry(
            name: "fgsm",
            summary: "Fast Gradient Sign Method (Goodfellow et al. 2015): one step of size ε from the clean input",
            keys: AttackKeys.gradientAttack,
            notes: Dictionary(uniqueKeysWithValues: ["steps", "step_size", "restarts", "random_start"].map { ($0, oneStep) }),
            make: { spec, context in
                BatteryEntry(FGSM(threatModel: context.threatModel, loss: AttackKeys.losses.value(for: "loss", in: spec),
                                  goal: AttackKeys.goals.value(for: "goal", in: spec)),
                             gradients: AttackKeys.estimation(spec))
            })
    }()
}
