import Foundation

/// Softmax cross-entropy: ℓ(z, y) = log Σₖ exp(zₖ) − z_y, with a stable log-sum-exp.
/// ∂ℓ/∂z = softmax(z) − onehot(y).
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
            let lse = Softmax.logSumExp(z, count: K)
            let loss = lse - z[y]
            perExample?[n] = loss
            total += Double(loss)
            if let g = gradient?.data.advanced(by: n * K) {
                for k in 0..<K { g[k] = expf(z[k] - lse) * scale }
                g[y] -= scale
            }
        }
        return Float(total) * scale
    }
}
