import Foundation

/// Softmax cross-entropy: ℓ(z, y) = log Σₖ exp(zₖ) − z_y, with a stable log-sum-exp.
/// ∂ℓ/∂z = softmax(z) − onehot(y).
///
/// Written for confident models, which attacks meet all the time: with q = Σ_{k≠y} exp(zₖ − z_y),
/// ℓ = log1p(q) and ∂ℓ/∂z_y = −Σ_{k≠y} pₖ. The textbook forms (lse − z_y and p_y − 1) round to exactly
/// zero once p_y is within 6·10⁻⁸ of 1, which would hand an attack a zero gradient — gradient masking
/// made by the loss itself.
public struct CrossEntropy: LabelLoss {
    public init() {}

    public func compute(logits: Tensor, labels: [Int], reduction: Reduction,
                        gradient: Tensor?, perExample: UnsafeMutablePointer<Float>?) -> Float {
        let (N, K) = checkLogits(logits, labels: labels)
        gradient?.resize(to: logits.shape)
        let scale: Float = reduction == .mean ? 1 / Float(N) : 1
        var total = 0.0
        for n in 0..<N {
            let z = logits.data + n * K, y = labels[n]
            precondition(y >= 0 && y < K, "label \(y) outside 0..<\(K)")
            var m = z[0]
            for k in 1..<K where z[k] > m { m = z[k] }
            var others: Float = 0
            for k in 0..<K where k != y { others += expf(z[k] - m) }
            let own = expf(z[y] - m), sum = own + others
            let loss = own > 0 ? log1pf(others / own) : m + logf(sum) - z[y]
            perExample?[n] = loss
            total += Double(loss)
            if let g = gradient?.data.advanced(by: n * K) {
                let inverse = scale / sum
                for k in 0..<K { g[k] = expf(z[k] - m) * inverse }
                g[y] = -others * inverse
            }
        }
        return Float(total) * scale
    }
}
