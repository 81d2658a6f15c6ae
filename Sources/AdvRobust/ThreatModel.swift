import AdvNN
import Foundation

/// The norm that bounds a perturbation.
public enum Norm: String, Codable, Sendable, CaseIterable {
    /// max |δᵢ| ≤ ε: every input value may move by ε.
    case linf
    /// √Σ δᵢ² ≤ ε per example.
    case l2
}

/// What an attacker may do, stated exactly: change each example by at most `epsilon` in `norm`, and keep
/// every value within the dataset's valid range ([0, 1] for images; unbounded for synthetic data).
///
/// Every attack ends every step with `project(_:around:)`, the one implementation of the constraint.
public struct ThreatModel: Codable, Sendable, Equatable {
    public var norm: Norm
    public var epsilon: Float
    /// The valid range of input values; nil when inputs are unbounded.
    public var lowerBound: Float?
    public var upperBound: Float?

    public init(norm: Norm, epsilon: Float, valueRange: ClosedRange<Float>? = 0...1) {
        precondition(epsilon >= 0 && epsilon.isFinite, "epsilon must be a finite non-negative number, got \(epsilon)")
        self.norm = norm
        self.epsilon = epsilon
        lowerBound = valueRange?.lowerBound
        upperBound = valueRange?.upperBound
    }

    /// The claim this threat model makes, e.g. "L∞ ε = 0.1, inputs in [0, 1]".
    public var description: String {
        let normText = norm == .linf ? "L∞" : "L2"
        let range = lowerBound.map { lower in "inputs in [\(format(lower)), \(format(upperBound ?? .infinity))]" } ?? "unbounded inputs"
        return "\(normText) ε = \(format(epsilon)), \(range)"
    }

    private func format(_ value: Float) -> String { String(format: "%g", Double(value)) }

    /// Moves `adversarial` (N, …) to the nearest point, per example, that lies within ε of `clean` in the
    /// norm and inside the valid range. For L∞ this is exact; for L2 the ball projection is followed by
    /// clipping to the range, as every standard implementation does.
    public func project(_ adversarial: Tensor, around clean: Tensor) {
        precondition(adversarial.shape == clean.shape, "projection of \(adversarial.shape) around \(clean.shape)")
        let x = clean.data, a = adversarial.data, eps = epsilon
        let N = clean.shape.batchSize, D = clean.shape.elementsPerItem
        switch norm {
        case .linf:
            for i in 0..<clean.count { a[i] = min(max(a[i], x[i] - eps), x[i] + eps) }
        case .l2:
            for n in 0..<N {
                let offset = n * D
                var squared: Float = 0
                for i in offset..<offset + D { let d = a[i] - x[i]; squared += d * d }
                let length = squared.squareRoot()
                guard length > eps else { continue }
                let scale = eps / length
                for i in offset..<offset + D { a[i] = x[i] + (a[i] - x[i]) * scale }
            }
        }
        clampToRange(adversarial)
    }

    /// Clips every value into the valid range (a no-op for unbounded inputs).
    public func clampToRange(_ tensor: Tensor) {
        let lower = lowerBound ?? -.infinity, upper = upperBound ?? .infinity
        guard lower > -.infinity || upper < .infinity else { return }
        let a = tensor.data
        for i in 0..<tensor.count { a[i] = min(max(a[i], lower), upper) }
    }

    /// A uniformly random point of the ε-ball around `clean`, written into `start` and projected into
    /// the valid range: uniform in the cube for L∞; for L2 a uniform direction with radius ε·u^(1/d).
    public func randomPoint(around clean: Tensor, into start: Tensor, rng: inout RandomStream) {
        start.assign(clean)
        let s = start.data, eps = epsilon
        let N = clean.shape.batchSize, D = clean.shape.elementsPerItem
        switch norm {
        case .linf:
            for i in 0..<clean.count { s[i] += rng.nextFloat(in: -eps, eps) }
        case .l2:
            var direction = [Float](repeating: 0, count: D)
            for n in 0..<N {
                var squared: Float = 0
                for i in 0..<D { direction[i] = rng.nextNormal(); squared += direction[i] * direction[i] }
                let radius = eps * Float(pow(Double(rng.nextUnitFloat()), 1 / Double(D)))
                let scale = radius / max(squared.squareRoot(), 1e-12)
                for i in 0..<D { s[n * D + i] += direction[i] * scale }
            }
        }
        clampToRange(start)
    }

    /// The steepest-ascent step of size `stepSize` for `gradient` in this norm, added to `adversarial`:
    /// stepSize·sign(g) for L∞, stepSize·g/‖g‖₂ per example for L2 (no move where g = 0).
    public func ascend(_ adversarial: Tensor, along gradient: Tensor, stepSize: Float) {
        ascend(adversarial, along: gradient) { _ in stepSize }
    }

    /// The same step with its own size for every example (APGD adapts them one by one).
    public func ascend(_ adversarial: Tensor, along gradient: Tensor, stepSizes: [Float]) {
        precondition(stepSizes.count == gradient.shape.batchSize, "\(stepSizes.count) step sizes for \(gradient.shape)")
        ascend(adversarial, along: gradient) { stepSizes[$0] }
    }

    private func ascend(_ adversarial: Tensor, along gradient: Tensor, stepSize: (Int) -> Float) {
        precondition(adversarial.shape == gradient.shape, "step of \(adversarial.shape) along \(gradient.shape)")
        let a = adversarial.data, g = gradient.data
        let N = gradient.shape.batchSize, D = gradient.shape.elementsPerItem
        for n in 0..<N {
            let step = stepSize(n), range = n * D..<(n + 1) * D
            switch norm {
            case .linf:
                for i in range { a[i] += g[i] > 0 ? step : (g[i] < 0 ? -step : 0) }
            case .l2:
                var squared: Float = 0
                for i in range { squared += g[i] * g[i] }
                guard squared > 0 else { continue }
                let scale = step / squared.squareRoot()
                for i in range { a[i] += g[i] * scale }
            }
        }
    }

    /// The size of every example's perturbation `adversarial − clean` in this norm.
    public func perturbationSizes(_ adversarial: Tensor, from clean: Tensor) -> [Float] {
        let N = clean.shape.batchSize, D = clean.shape.elementsPerItem
        return (0..<N).map { n in
            var size: Float = 0
            for i in n * D..<(n + 1) * D {
                let d = abs(adversarial[i] - clean[i])
                size = norm == .linf ? max(size, d) : size + d * d
            }
            return norm == .linf ? size : size.squareRoot()
        }
    }
}
