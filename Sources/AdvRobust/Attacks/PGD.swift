import AdvNN

/// Projected Gradient Descent. Madry et al. 2018, arXiv:1706.06083.
/// From a random point of the ε-ball (or the clean input), `steps` steepest-ascent steps of size
/// `stepSize` on the attack loss, each followed by projection onto the ε-ball and the valid range;
/// `restarts` independent runs, keeping per example the first that meets the goal (else the one with
/// the highest loss). Defaults: the MNIST challenge's L∞ setting scaled by ε (step ε/4, 20 steps).
/// - inputs: (N, …) → adversarial: same shape.
public struct PGD: Attack, Codable, Sendable {
    public var threatModel: ThreatModel
    public var stepSize: Float
    public var steps: Int
    public var randomStart: Bool
    public var restarts: Int
    public var passesPerExample: Double { Double(steps * restarts) }
    public var loss: AttackLoss
    public var goal: AttackGoal

    public init(threatModel: ThreatModel, stepSize: Float? = nil, steps: Int = 20, randomStart: Bool = true,
                restarts: Int = 1, loss: AttackLoss = .crossEntropy, goal: AttackGoal = .untargeted) {
        precondition(steps >= 1 && restarts >= 1, "PGD needs at least one step and one restart")
        self.threatModel = threatModel
        self.stepSize = stepSize ?? threatModel.epsilon / 4
        self.steps = steps
        self.randomStart = randomStart
        self.restarts = restarts
        self.loss = loss
        self.goal = goal
    }

    public var name: String {
        let lossName: String
        switch loss {
        case .crossEntropy: lossName = "CE"
        case let .carliniWagner(confidence): lossName = confidence == 0 ? "CW" : "CW κ=\(confidence)"
        }
        let goalName: String
        switch goal {
        case .untargeted: goalName = ""
        case let .targetClass(target): goalName = ", target \(target)"
        case .leastLikely: goalName = ", least likely"
        case .multiTargeted: goalName = ", multi-targeted"
        }
        return "PGD-\(steps) (\(threatModel.norm == .linf ? "L∞" : "L2"), \(lossName)\(goalName), \(restarts) restart\(restarts == 1 ? "" : "s"))"
    }

    public func withEpsilon(_ epsilon: Float) -> any Attack {
        var copy = self
        copy.threatModel = threatModel.withEpsilon(epsilon)
        copy.stepSize = threatModel.epsilon > 0 ? stepSize * epsilon / threatModel.epsilon : epsilon / 4
        return copy
    }

    public func strengthened(by factor: Int) -> any Attack {
        var copy = self
        copy.steps *= factor
        copy.restarts *= factor
        return copy
    }

    public func perturb(_ inputs: Tensor, labels: [Int], against classifier: any Classifier,
                        using rng: inout RandomStream) -> AttackResult {
        let N = labels.count, D = inputs.shape.elementsPerItem
        let best = inputs.copy()
        var success = [Bool](repeating: false, count: N)
        var bestObjective = [Float](repeating: -.infinity, count: N)
        let adversarial = Tensor(zeros: inputs.shape), gradient = Tensor(zeros: inputs.shape)
        let labelSets = goal.labelSets(labels: labels, cleanLogits: { classifier.logits(inputs) },
                                       classCount: classifier.classCount)
        for (goalLabels, isTargeted) in labelSets {
            let objective = AttackObjective(loss: loss, isTargeted: isTargeted)
            for _ in 0..<restarts {
                start(adversarial, around: inputs, rng: &rng)
                ascend(adversarial, around: inputs, labels: goalLabels, objective: objective, against: classifier, gradient: gradient)
                // keep, per example, the first run that meets the goal, else the highest objective
                let z = classifier.logits(adversarial)
                var values = [Float](repeating: 0, count: N)
                values.withUnsafeMutableBufferPointer {
                    _ = objective.compute(logits: z, labels: goalLabels, reduction: .sum, gradient: nil, perExample: $0.baseAddress)
                }
                for n in 0..<N where !success[n] {
                    let met = goal.isMet(prediction: Metrics.predictedClass(logits: z, row: n), label: labels[n],
                                         target: goalLabels[n], isTargeted: isTargeted)
                    guard met || values[n] > bestObjective[n] else { continue }
                    success[n] = met
                    bestObjective[n] = values[n]
                    (best.data + n * D).update(from: adversarial.data + n * D, count: D)
                }
            }
        }
        return AttackResult(adversarial: best, success: success)
    }

    /// The adversarial batch adversarial training trains on: with one restart and one goal, the run
    /// `perturb` would keep is always its last iterate (any finite objective beats none), so this
    /// returns exactly `perturb`'s examples without the forward pass that checks the goal — a third
    /// of a pass per step, which fast AT's one-step attack feels most. Other settings go through
    /// `perturb`. The result is a tensor this call allocates.
    public func lastIterate(_ inputs: Tensor, labels: [Int], against classifier: any Classifier,
                            using rng: inout RandomStream) -> Tensor {
        let labelSets = goal.labelSets(labels: labels, cleanLogits: { classifier.logits(inputs) }, classCount: classifier.classCount)
        guard restarts == 1, labelSets.count == 1 else {
            return perturb(inputs, labels: labels, against: classifier, using: &rng).adversarial
        }
        let adversarial = Tensor(zeros: inputs.shape), gradient = Tensor(zeros: inputs.shape)
        start(adversarial, around: inputs, rng: &rng)
        ascend(adversarial, around: inputs, labels: labelSets[0].labels,
               objective: AttackObjective(loss: loss, isTargeted: labelSets[0].isTargeted), against: classifier, gradient: gradient)
        return adversarial
    }

    /// A run's first point: a random point of the ball, or the clean inputs.
    private func start(_ adversarial: Tensor, around inputs: Tensor, rng: inout RandomStream) {
        if randomStart {
            threatModel.randomPoint(around: inputs, into: adversarial, rng: &rng)
        } else {
            adversarial.assign(inputs)
        }
    }

    /// `steps` steps of size `stepSize` up the objective from wherever `adversarial` is, each
    /// projected back onto the ball around `inputs` and the valid range.
    func ascend(_ adversarial: Tensor, around inputs: Tensor, labels: [Int], objective: AttackObjective,
                against classifier: any Classifier, gradient: Tensor) {
        for _ in 0..<steps {
            _ = classifier.lossGradient(adversarial, labels: labels, loss: objective, into: gradient)
            threatModel.ascend(adversarial, along: gradient, stepSize: stepSize)
            threatModel.project(adversarial, around: inputs)
        }
    }
}

extension RegistryEntry where Part == BatteryEntry, Context == AttackContext {
    /// `pgd` in a manifest's battery.
    public static let pgd = AttackEntry(
        name: "pgd",
        summary: "Projected Gradient Descent (Madry et al. 2018): steps of size `step_size` from a random point of the ε-ball",
        keys: [AttackKeys.steps(default: 20),
               .init("step_size", .number(0...1e6, lowerIsOpen: true),
                     default: .derived("ε/4", { context, _ in .number(context.threatModel.epsilon / 4) }), doc: "the size of each step"),
               AttackKeys.restarts,
               .init("random_start", .flag, default: .value(.flag(true)), doc: "start at a random point of the ε-ball")]
            + AttackKeys.gradientAttack,
        make: { spec, context in
            BatteryEntry(PGD(threatModel: context.threatModel, stepSize: spec.float("step_size"), steps: spec.int("steps"),
                             randomStart: spec.bool("random_start"), restarts: spec.int("restarts"),
                             loss: AttackKeys.losses.value(for: "loss", in: spec), goal: AttackKeys.goals.value(for: "goal", in: spec)),
                         gradients: AttackKeys.estimation(spec))
        })
}
