/// The Difference of Logits Ratio loss of APGD (Croce & Hein 2020), invariant to shifting and
/// rescaling the logits, with π the classes sorted by logit, descending:
/// - untargeted: ℓ = −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + ε)  (needs K ≥ 3);
/// - targeted (`targets` given): ℓ = −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + ε)  (needs K ≥ 4).
public struct DifferenceOfLogitsRatio: LabelLoss {
    /// Target classes for the targeted form; nil for the untargeted form.
    public var targets: [Int]?
    public static let denominatorEpsilon: Float = 1e-12

    public init(targets: [Int]? = nil) {
        self.targets = targets
    }

    public func compute(logits: Tensor, labels: [Int], reduction: Reduction,
                        gradient: Tensor?, perExample: UnsafeMutablePointer<Float>?) -> Float {
        let (N, K) = checkLogits(logits, labels: labels)
        precondition(K >= (targets == nil ? 3 : 4), "DLR needs at least \(targets == nil ? 3 : 4) classes, got \(K)")
        if let targets { precondition(targets.count == N, "\(targets.count) targets for \(N) examples") }
        gradient?.resize(to: logits.shape)
        gradient?.zero()
        let scale: Float = reduction == .mean ? 1 / Float(N) : 1
        var total = 0.0
        var ranked = [Int](repeating: 0, count: 4)
        for n in 0..<N {
            let z = logits.data + n * K, y = labels[n]
            topFour(z, count: K, into: &ranked)
            // numerator u = z_y − z_rival; denominator v; ℓ = −u / v
            let rival: Int
            if let targets { rival = targets[n] } else { rival = ranked[0] == y ? ranked[1] : ranked[0] }
            let u = z[y] - z[rival]
            let v: Float
            if targets == nil {
                v = z[ranked[0]] - z[ranked[2]] + Self.denominatorEpsilon
            } else {
                v = z[ranked[0]] - (z[ranked[2]] + z[ranked[3]]) / 2 + Self.denominatorEpsilon
            }
            let loss = -u / v
            perExample?[n] = loss
            total += Double(loss)
            guard let g = gradient?.data.advanced(by: n * K) else { continue }
            // ∂ℓ/∂z = −(∂u/∂z)/v + u/v² · ∂v/∂z
            g[y] -= scale / v
            g[rival] += scale / v
            let w = scale * u / (v * v)
            g[ranked[0]] += w
            if targets == nil {
                g[ranked[2]] -= w
            } else {
                g[ranked[2]] -= w / 2
                g[ranked[3]] -= w / 2
            }
        }
        return Float(total) * scale
    }

    /// The indices of the (up to) four largest logits, largest first; ties go to the lower index.
    private func topFour(_ z: UnsafePointer<Float>, count: Int, into ranked: inout [Int]) {
        let slots = min(4, count)
        var filled = 0
        for k in 0..<count {
            var position = filled
            while position > 0 && z[k] > z[ranked[position - 1]] { position -= 1 }
            guard position < slots else { continue }
            var shift = min(filled, slots - 1)
            while shift > position { ranked[shift] = ranked[shift - 1]; shift -= 1 }
            ranked[position] = k
            filled = min(filled + 1, slots)
        }
    }
}
