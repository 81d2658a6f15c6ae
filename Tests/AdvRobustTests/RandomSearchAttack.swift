import AdvNN
import AdvRobust

/// A fixture: an attack written outside advd, in one file, to show that adding an attack is this file
/// plus one registry line (`RegistryTests.registries`). It tries `tries` uniformly random points of the
/// ε-ball per example and keeps the first that is misclassified — a weak baseline, gradient-free.
struct RandomSearchAttack: Attack {
    var threatModel: ThreatModel
    var tries: Int

    var name: String { "random-search-\(tries)" }
    var kind: AttackKind { .gradientFree }

    func withEpsilon(_ epsilon: Float) -> any Attack {
        RandomSearchAttack(threatModel: threatModel.withEpsilon(epsilon), tries: tries)
    }

    func perturb(_ inputs: Tensor, labels: [Int], against classifier: any Classifier,
                 using rng: inout RandomStream) -> AttackResult {
        let best = inputs.copy(), candidate = Tensor(zeros: inputs.shape)
        var success = [Bool](repeating: false, count: labels.count)
        let size = inputs.count / max(labels.count, 1)
        for _ in 0..<tries where success.contains(false) {
            threatModel.randomPoint(around: inputs, into: candidate, rng: &rng)
            let logits = classifier.logits(candidate), classes = classifier.classCount
            for n in labels.indices where !success[n] {
                let prediction = (0..<classes).max { logits[n * classes + $0] < logits[n * classes + $1] }!
                guard prediction != labels[n] else { continue }
                success[n] = true
                for i in 0..<size { best[n * size + i] = candidate[n * size + i] }
            }
        }
        return AttackResult(adversarial: best, success: success)
    }
}

extension RegistryEntry where Part == BatteryEntry, Context == AttackContext {
    static let randomSearch = AttackEntry(
        name: "random-search", summary: "uniformly random points of the ε-ball (a test fixture)",
        keys: [.init("tries", .integer(1...10_000), default: .value(.integer(10)), doc: "random points per example")],
        make: { spec, context in BatteryEntry(RandomSearchAttack(threatModel: context.threatModel, tries: spec.int("tries"))) })
}
