/// Attacks: one interface, one file per attack, defaults from the paper in each doc comment.
///
/// Every attack takes a classifier, a batch and its labels, and returns adversarial inputs inside the
/// threat model plus, per example, whether the attack's goal was met. Attacks are seeded (the same
/// stream gives the same output), compute input gradients only, and never print.
import AdvNN

/// What an attack tries to achieve.
public enum AttackGoal: Codable, Sendable, Equatable {
    /// Any wrong class.
    case untargeted
    /// This class for every example (examples already of that class count as not attacked).
    case targetClass(Int)
    /// The class the model finds least likely for each clean example.
    case leastLikely
    /// Every other class in turn; an example falls if any target succeeds (Gowal et al. 2019).
    case multiTargeted
}

/// The loss an attack ascends.
public enum AttackLoss: Codable, Sendable, Equatable {
    /// Softmax cross-entropy (descended on the target for targeted goals).
    case crossEntropy
    /// The Carlini–Wagner margin, capped at `confidence` κ.
    case carliniWagner(confidence: Float)
}

/// The outcome of an attack on a batch.
public struct AttackResult {
    /// Adversarial inputs, same shape as the clean batch, inside the threat model.
    public var adversarial: Tensor
    /// Whether the goal was met: misclassified (untargeted, multi-targeted) or classified as the target.
    public var success: [Bool]

    public init(adversarial: Tensor, success: [Bool]) {
        self.adversarial = adversarial
        self.success = success
    }
}

/// How an attack searches, which the sanity checks compare.
public enum AttackKind: String, Codable, Sendable {
    /// One gradient step (FGSM): weaker than any iterative attack on a model without gradient masking.
    case singleStep
    /// Many gradient steps (PGD, APGD).
    case iterative
    /// No gradients at all (Square): it cannot beat white-box attacks unless gradients are masked.
    case gradientFree
}

/// An adversarial attack under a threat model.
public protocol Attack {
    /// A short name for reports, e.g. `PGD-20 (L∞, CE, 1 restart)`.
    var name: String { get }
    var threatModel: ThreatModel { get }
    /// How the attack searches.
    var kind: AttackKind { get }

    /// The same attack at another radius (step sizes scale with ε), for the robust-accuracy curve.
    func withEpsilon(_ epsilon: Float) -> any Attack

    /// A stronger version of an iterative attack (`factor` times the steps and restarts), for the
    /// convergence check; attacks that cannot be strengthened return themselves.
    func strengthened(by factor: Int) -> any Attack

    /// Forward(-backward) passes through the model per attacked example, for progress estimates.
    var passesPerExample: Double { get }

    /// Attacks `inputs` (N, …) with true `labels`, drawing any randomness from `rng`.
    func perturb(_ inputs: Tensor, labels: [Int], against classifier: any Classifier,
                 using rng: inout RandomStream) -> AttackResult
}

extension Attack {
    public var kind: AttackKind { .iterative }
    public var passesPerExample: Double { 1 }
    public func strengthened(by factor: Int) -> any Attack { self }
}

extension ThreatModel {
    /// The same constraint at radius `epsilon`.
    public func withEpsilon(_ epsilon: Float) -> ThreatModel {
        var copy = self
        copy.epsilon = epsilon
        return copy
    }
}

/// The quantity a gradient attack ascends, for one choice of goal labels: the loss itself for an
/// untargeted goal (labels are the true classes), and for a targeted one (labels are the targets)
/// −CE or the targeted CW margin.
struct AttackObjective: LabelLoss {
    let loss: AttackLoss
    let isTargeted: Bool

    func compute(logits: Tensor, labels: [Int], reduction: Reduction,
                 gradient: Tensor?, perExample: UnsafeMutablePointer<Float>?) -> Float {
        switch loss {
        case .crossEntropy:
            let value = CrossEntropy().compute(logits: logits, labels: labels, reduction: reduction,
                                               gradient: gradient, perExample: perExample)
            guard isTargeted else { return value }
            // toward the target: ascend −CE(target)
            if let gradient { for i in 0..<gradient.count { gradient[i] = -gradient[i] } }
            if let perExample { for n in 0..<labels.count { perExample[n] = -perExample[n] } }
            return -value
        case let .carliniWagner(confidence):
            return CarliniWagnerMargin(confidence: confidence, isTargeted: isTargeted)
                .compute(logits: logits, labels: labels, reduction: reduction, gradient: gradient, perExample: perExample)
        }
    }
}

extension AttackGoal {
    /// The label sets to attack toward, each with whether it is targeted: the true labels once for an
    /// untargeted goal, or one set of targets per target choice.
    func labelSets(labels: [Int], cleanLogits: () -> Tensor, classCount: Int) -> [(labels: [Int], isTargeted: Bool)] {
        switch self {
        case .untargeted:
            return [(labels, false)]
        case let .targetClass(target):
            precondition(target >= 0 && target < classCount, "target class \(target) outside 0..<\(classCount)")
            return [(Array(repeating: target, count: labels.count), true)]
        case .leastLikely:
            let z = cleanLogits(), K = classCount
            let targets = (0..<labels.count).map { n in
                (0..<K).min { z[n * K + $0] < z[n * K + $1] }!
            }
            return [(targets, true)]
        case .multiTargeted:
            return (1..<classCount).map { offset in (labels.map { ($0 + offset) % classCount }, true) }
        }
    }

    /// Whether a prediction meets the goal for an example with true `label`, attacked toward `target`.
    func isMet(prediction: Int, label: Int, target: Int, isTargeted: Bool) -> Bool {
        switch self {
        case .untargeted, .multiTargeted: return prediction != label
        case .targetClass, .leastLikely: return prediction == target && target != label
        }
    }
}
