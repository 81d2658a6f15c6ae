import AdvNN
import Foundation

/// Square Attack. Andriushchenko, Croce, Flammarion & Hein 2020, arXiv:1912.00049. Score-based and
/// black-box: it queries logits only, never gradients, so it is immune to gradient masking — which makes
/// it the sanity check for every white-box number.
///
/// L∞ (below): start from vertical stripes (each column of each channel moved by ±ε); then, for
/// `queries` iterations, redraw a random s×s square of the perturbation as ±ε per channel and keep the
/// change when it lowers the margin z_y − max_{k≠y} z_k. The square's area is a fraction p of the image,
/// p = `initialFraction` halved on the paper's schedule (iterations 10, 50, 200, 500, 1000, 2000, 4000,
/// 6000, 8000 of 10,000, scaled to `queries`). Examples stop once misclassified. Untargeted only.
/// Inputs (N, C, H, W), or (N, d) treated as one row; defaults: 5,000 queries, p = 0.05 (AutoAttack).
/// L2: see `SquareAttack+L2.swift` (images only; the paper suggests p = 0.1).
public struct SquareAttack: Attack, Codable, Sendable {
    public var threatModel: ThreatModel
    public var queries: Int
    /// Forward passes only, each about a third of a forward-backward pass.
    public var passesPerExample: Double { Double(queries) / 3 }
    public var initialFraction: Float

    public init(threatModel: ThreatModel, queries: Int = 5000, initialFraction: Float = 0.05) {
        precondition(queries >= 1 && initialFraction > 0 && initialFraction <= 1, "Square needs queries ≥ 1 and p in (0, 1]")
        self.threatModel = threatModel
        self.queries = queries
        self.initialFraction = initialFraction
    }

    public var name: String { "Square-\(queries) (\(threatModel.norm == .linf ? "L∞" : "L2"))" }
    public var kind: AttackKind { .gradientFree }

    public func withEpsilon(_ epsilon: Float) -> any Attack {
        SquareAttack(threatModel: threatModel.withEpsilon(epsilon), queries: queries, initialFraction: initialFraction)
    }

    public func strengthened(by factor: Int) -> any Attack {
        SquareAttack(threatModel: threatModel, queries: queries * factor, initialFraction: initialFraction)
    }

    /// The fraction of pixels the square covers at iteration `i` (the paper's piecewise-constant schedule).
    func squareFraction(iteration i: Int) -> Float {
        let scaled = Int(Double(i) / Double(queries) * 10_000)
        let boundaries = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000]
        let halvings = boundaries.filter { scaled > $0 }.count
        return initialFraction / Float(1 << halvings)
    }

    /// The per-example margin z_y − max_{k≠y} z_k (negative: misclassified).
    func margins(_ inputs: Tensor, labels: [Int], classifier: any Classifier) -> [Float] {
        let z = classifier.logits(inputs), K = z.shape[1]
        return (0..<labels.count).map { n in
            let row = z.data + n * K, y = labels[n]
            var other = -Float.infinity
            for k in 0..<K where k != y { other = max(other, row[k]) }
            return row[y] - other
        }
    }

    public func perturb(_ inputs: Tensor, labels: [Int], against classifier: any Classifier,
                        using rng: inout RandomStream) -> AttackResult {
        if threatModel.norm == .l2 { return perturbL2(inputs, labels: labels, against: classifier, using: &rng) }
        let N = labels.count, D = inputs.shape.elementsPerItem
        let (C, H, W) = inputs.shape.rank == 4 ? (inputs.shape[1], inputs.shape[2], inputs.shape[3]) : (1, 1, D)
        let eps = threatModel.epsilon
        // the perturbation δ of every example, then x + δ clipped to the valid range
        let delta = Tensor(zeros: inputs.shape), candidate = Tensor(zeros: inputs.shape)
        for n in 0..<N {
            for c in 0..<C {
                for w in 0..<W {
                    let sign: Float = rng.next() & 1 == 0 ? -eps : eps
                    for h in 0..<H { delta[n * D + (c * H + h) * W + w] = sign }
                }
            }
        }
        func apply(_ perturbation: Tensor, into result: Tensor) {
            result.assign(inputs)
            for i in 0..<result.count { result[i] += perturbation[i] }
            threatModel.project(result, around: inputs)   // δ is ±ε already; this keeps the valid range
        }
        let best = Tensor(zeros: inputs.shape)
        apply(delta, into: best)
        var margin = margins(best, labels: labels, classifier: classifier)
        let proposal = Tensor(zeros: inputs.shape)
        for iteration in 1..<max(queries, 1) {
            let active = (0..<N).filter { margin[$0] > 0 }
            guard !active.isEmpty else { break }
            let side = max(1, min(Int((Float(H * W) * squareFraction(iteration: iteration)).squareRoot().rounded()), H == 1 ? W : min(H, W) - 1))
            let height = H == 1 ? 1 : side
            proposal.assign(delta)
            for n in active {
                let top = rng.nextIndex(below: H - height + 1), left = rng.nextIndex(below: W - side + 1)
                for c in 0..<C {
                    let value: Float = rng.next() & 1 == 0 ? -eps : eps
                    for h in top..<top + height {
                        for w in left..<left + side { proposal[n * D + (c * H + h) * W + w] = value }
                    }
                }
            }
            apply(proposal, into: candidate)
            let candidateMargin = margins(candidate, labels: labels, classifier: classifier)
            for n in active where candidateMargin[n] < margin[n] {
                margin[n] = candidateMargin[n]
                (delta.data + n * D).update(from: proposal.data + n * D, count: D)
                (best.data + n * D).update(from: candidate.data + n * D, count: D)
            }
        }
        return AttackResult(adversarial: best, success: margin.map { $0 < 0 })
    }
}

extension RegistryEntry where Part == BatteryEntry, Context == AttackContext {
    /// `square` in a manifest's battery.
    public static let square: AttackEntry = {
        let blackBox = "square is a black-box attack with its own schedule: it takes queries and p_init only"
        let others = ["steps", "step_size", "restarts", "random_start"] + AttackKeys.gradientAttack.map(\.name)
        return AttackEntry(
            name: "square",
            summary: "Square Attack (Andriushchenko et al. 2020): black-box random search on the logits, immune to gradient masking",
            keys: [.init("queries", .integer(1...1_000_000), default: .value(.integer(5000)), doc: "iterations, one query each"),
                   .init("p_init", .number(0...1, lowerIsOpen: true), default: .value(.number(0.05)),
                         doc: "the initial fraction of the image a square covers (the paper suggests 0.1 for L2)")],
            notes: Dictionary(uniqueKeysWithValues: others.map { ($0, blackBox) }),
            check: { part in
                let threat = part.context.threatModel
                if threat.norm == .l2 && threat.lowerBound == nil {
                    throw part.error(at: "name", "the l2 square attack works on images; this dataset has vector inputs")
                }
            },
            make: { spec, context in
                BatteryEntry(SquareAttack(threatModel: context.threatModel, queries: spec.int("queries"), initialFraction: spec.float("p_init")))
            })
    }()
}
