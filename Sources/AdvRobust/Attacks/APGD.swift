import AdvNN
import Foundation

/// Auto-PGD. Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
/// diverse parameter-free attacks", arXiv:2003.01690.
///
/// PGD with momentum (α = 0.75) and a step size that needs no tuning: it starts at 2ε and is halved at
/// checkpoints wⱼ = ⌈pⱼ·steps⌉ (p₀ = 0, p₁ = 0.22, pⱼ₊₁ = pⱼ + max(pⱼ − pⱼ₋₁ − 0.03, 0.06)) whenever fewer
/// than ρ = 75% of the steps since the last checkpoint raised the loss, or when neither the step size nor
/// the best loss changed since then; after a halving it continues from the best point found. Losses:
/// cross-entropy or DLR; targeted goals use the targeted DLR (APGD-T) or −CE. Per example it returns
/// the first iterate that meets the goal, else the one with the highest loss. Defaults: 100 steps.
/// - inputs: (N, …) → adversarial: same shape.
public struct APGD: Attack, Codable, Sendable {
    public enum Loss: String, Codable, Sendable {
        case crossEntropy = "ce", dlr
    }

    public var threatModel: ThreatModel
    public var steps: Int
    public var restarts: Int
    public var passesPerExample: Double { Double(steps * restarts) }
    public var loss: Loss
    public var goal: AttackGoal
    public var rho: Float = 0.75
    public var momentum: Float = 0.75

    public init(threatModel: ThreatModel, steps: Int = 100, restarts: Int = 1, loss: Loss = .crossEntropy,
                goal: AttackGoal = .untargeted) {
        precondition(steps >= 2 && restarts >= 1, "APGD needs at least two steps and one restart")
        self.threatModel = threatModel
        self.steps = steps
        self.restarts = restarts
        self.loss = loss
        self.goal = goal
    }

    public var name: String {
        let targeted = goal == .untargeted ? "" : "-T"
        return "APGD\(targeted)-\(loss == .dlr ? "DLR" : "CE")-\(steps) (\(threatModel.norm == .linf ? "L∞" : "L2"))"
    }

    public func withEpsilon(_ epsilon: Float) -> any Attack {
        var copy = self
        copy.threatModel = threatModel.withEpsilon(epsilon)
        return copy
    }

    public func strengthened(by factor: Int) -> any Attack {
        var copy = self
        copy.steps *= factor
        copy.restarts *= factor
        return copy
    }

    /// The iterations at which the step size may be halved.
    public static func checkpoints(steps: Int) -> Set<Int> {
        var p: [Double] = [0, 0.22]
        while p.last! < 1 { p.append(p[p.count - 1] + max(p[p.count - 1] - p[p.count - 2] - 0.03, 0.06)) }
        return Set(p.dropFirst().map { Int((Double(steps) * $0).rounded(.up)) }.filter { $0 < steps })
    }

    public func perturb(_ inputs: Tensor, labels: [Int], against classifier: any Classifier,
                        using rng: inout RandomStream) -> AttackResult {
        let N = labels.count, D = inputs.shape.elementsPerItem
        let best = inputs.copy()
        var success = [Bool](repeating: false, count: N), bestLoss = [Float](repeating: -.infinity, count: N)
        let labelSets = goal.labelSets(labels: labels, cleanLogits: { classifier.logits(inputs) }, classCount: classifier.classCount)
        for (targets, isTargeted) in labelSets {
            let objective: any LabelLoss
            switch (loss, isTargeted) {
            case (.dlr, false): objective = DifferenceOfLogitsRatio()
            case (.dlr, true): objective = DifferenceOfLogitsRatio(targets: targets)
            case (.crossEntropy, _): objective = AttackObjective(loss: .crossEntropy, isTargeted: isTargeted)
            }
            // DLR takes the true labels (targets travel inside the loss); −CE takes the targets
            let objectiveLabels = loss == .dlr ? labels : targets
            for _ in 0..<restarts {
                let run = singleRun(inputs, labels: labels, targets: targets, isTargeted: isTargeted,
                                    objective: objective, objectiveLabels: objectiveLabels, classifier: classifier, rng: &rng)
                for n in 0..<N where !success[n] && (run.success[n] || run.loss[n] > bestLoss[n]) {
                    success[n] = run.success[n]
                    bestLoss[n] = run.loss[n]
                    (best.data + n * D).update(from: run.adversarial.data + n * D, count: D)
                }
            }
        }
        return AttackResult(adversarial: best, success: success)
    }

    private struct Run {
        var adversarial: Tensor
        var success: [Bool]
        var loss: [Float]
    }

    /// One APGD run from a random start, per example step sizes and bookkeeping.
    private func singleRun(_ inputs: Tensor, labels: [Int], targets: [Int], isTargeted: Bool, objective: any LabelLoss,
                           objectiveLabels: [Int], classifier: any Classifier, rng: inout RandomStream) -> Run {
        let N = labels.count, D = inputs.shape.elementsPerItem
        let x = Tensor(zeros: inputs.shape), previous = Tensor(zeros: inputs.shape), z = Tensor(zeros: inputs.shape)
        let gradient = Tensor(zeros: inputs.shape), bestPoint = Tensor(zeros: inputs.shape)
        let bestGradient = Tensor(zeros: inputs.shape), found = inputs.copy()
        var stepSize = [Float](repeating: 2 * threatModel.epsilon, count: N)
        var success = [Bool](repeating: false, count: N)
        let checkpoints = Self.checkpoints(steps: steps)

        func evaluate(_ point: Tensor) -> [Float] {
            let result = classifier.lossGradient(point, labels: objectiveLabels, loss: objective, into: gradient)
            for n in 0..<N where !success[n] {
                let met = goal.isMet(prediction: result.predictions[n], label: labels[n], target: targets[n], isTargeted: isTargeted)
                if met {
                    success[n] = true
                    (found.data + n * D).update(from: point.data + n * D, count: D)
                }
            }
            return result.losses
        }

        threatModel.randomPoint(around: inputs, into: x, rng: &rng)
        var currentLoss = evaluate(x)
        var bestLoss = currentLoss
        bestPoint.assign(x)
        bestGradient.assign(gradient)
        previous.assign(x)
        var improvements = [Int](repeating: 0, count: N), lastCheckpoint = 0
        var lossAtCheckpoint = bestLoss, stepAtCheckpoint = stepSize

        for k in 0..<steps - 1 {
            // z = P(x + η·direction(g)); x' = P(x + α(z − x) + (1 − α)(x − x_prev)), α = 1 on the first step
            z.assign(x)
            threatModel.ascend(z, along: gradient, stepSizes: stepSize)
            threatModel.project(z, around: inputs)
            let a = k == 0 ? 1 : momentum
            for i in 0..<x.count {
                let next = x[i] + a * (z[i] - x[i]) + (1 - a) * (x[i] - previous[i])
                previous[i] = x[i]
                x[i] = next
            }
            threatModel.project(x, around: inputs)
            let newLoss = evaluate(x)
            for n in 0..<N {
                if newLoss[n] > currentLoss[n] { improvements[n] += 1 }
                if newLoss[n] > bestLoss[n] {
                    bestLoss[n] = newLoss[n]
                    (bestPoint.data + n * D).update(from: x.data + n * D, count: D)
                    (bestGradient.data + n * D).update(from: gradient.data + n * D, count: D)
                }
            }
            currentLoss = newLoss
            guard checkpoints.contains(k + 1) else { continue }
            let window = Float(k + 1 - lastCheckpoint)
            for n in 0..<N {
                let fewImprovements = Float(improvements[n]) < rho * window
                let stalled = stepSize[n] == stepAtCheckpoint[n] && bestLoss[n] == lossAtCheckpoint[n]
                stepAtCheckpoint[n] = stepSize[n]
                lossAtCheckpoint[n] = bestLoss[n]
                guard fewImprovements || stalled else { continue }
                // halve the step and continue from the best point
                stepSize[n] /= 2
                for i in n * D..<(n + 1) * D {
                    x[i] = bestPoint[i]
                    previous[i] = bestPoint[i]
                    gradient[i] = bestGradient[i]
                }
                currentLoss[n] = bestLoss[n]
            }
            improvements = [Int](repeating: 0, count: N)
            lastCheckpoint = k + 1
        }
        // per example: the first iterate that met the goal, else the best
        for n in 0..<N where !success[n] { (found.data + n * D).update(from: bestPoint.data + n * D, count: D) }
        return Run(adversarial: found, success: success, loss: bestLoss)
    }
}

extension RegistryEntry where Part == BatteryEntry, Context == AttackContext {
    /// `apgd` in a manifest's battery.
    public static let apgd: AttackEntry = {
        let losses = ChoiceTable<APGD.Loss>([
            ("ce", "cross-entropy (−CE for targeted goals)", { _ in .crossEntropy }),
            ("dlr", "the Difference of Logits Ratio, scale-invariant (targeted DLR for targeted goals)", { _ in .dlr }),
        ])
        let adaptive = "apgd sets its own step sizes and always starts at a random point"
        return AttackEntry(
            name: "apgd",
            summary: "Auto-PGD (Croce & Hein 2020): PGD with momentum and a step size that adapts, starting at 2ε",
            keys: [AttackKeys.steps(default: 100, minimum: 2), AttackKeys.restarts,
                   .init("loss", .choice(losses.choices), default: .value(.text("ce")), doc: "the loss ascended")]
                + AttackKeys.gradientAttack.filter { !["loss", "confidence"].contains($0.name) },
            notes: ["step_size": adaptive, "random_start": adaptive,
                    "confidence": "confidence applies to the cw loss of pgd and fgsm; apgd takes ce or dlr"],
            check: { part in
                guard part["loss"]?.description == "dlr" else { return }
                let needed = part["goal"]?.description == "untargeted" ? 3 : 4
                if part.context.classes < needed {
                    throw part.error(at: "loss", "the DLR loss needs at least \(needed) classes; this dataset has \(part.context.classes)")
                }
            },
            make: { spec, context in
                BatteryEntry(APGD(threatModel: context.threatModel, steps: spec.int("steps"), restarts: spec.int("restarts"),
                                  loss: losses.value(for: "loss", in: spec), goal: AttackKeys.goals.value(for: "goal", in: spec)),
                             gradients: AttackKeys.estimation(spec))
            })
    }()
}
