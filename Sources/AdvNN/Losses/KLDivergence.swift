import Foundation

/// KL(p ‖ q) between the softmax distributions of two sets of logits, as TRADES uses it
/// (Zhang et al. 2019): p = softmax(z), q = softmax(z′), KL = Σₖ pₖ (log pₖ − log qₖ).
/// - logits z, z′: (N, K)
/// Gradients: ∂KL/∂z′ = q − p, and ∂KL/∂z = p ⊙ (a − KL) with a = log p − log q.
public struct KLDivergence: Sendable {
    public init() {}

    /// Computes the KL divergence of every row and the gradients of the reduced value.
    /// - Parameters:
    ///   - reference: z, the logits of p (the clean input in TRADES).
    ///   - other: z′, the logits of q (the adversarial input).
    ///   - gradientReference: receives ∂/∂z when given; `gradientOther` receives ∂/∂z′.
    /// - Returns: the mean or sum of the per-row divergences.
    public func compute(reference: Tensor, other: Tensor, reduction: Reduction,
                        gradientReference: Tensor? = nil, gradientOther: Tensor? = nil,
                        perExample: UnsafeMutablePointer<Float>? = nil) -> Float {
        precondition(reference.shape == other.shape && reference.shape.rank == 2,
                     "KL needs two (N, K) logits of one shape, got \(reference.shape) and \(other.shape)")
        let N = reference.shape[0], K = reference.shape[1]
        gradientReference?.resize(to: reference.shape)
        gradientOther?.resize(to: other.shape)
        let scale: Float = reduction == .mean ? 1 / Float(N) : 1
        var total = 0.0
        for n in 0..<N {
            let z = reference.data + n * K, zOther = other.data + n * K
            let lseP = Softmax.logSumExp(z, count: K), lseQ = Softmax.logSumExp(zOther, count: K)
            var kl: Float = 0
            for k in 0..<K {
                let logP = z[k] - lseP, logQ = zOther[k] - lseQ
                kl += expf(logP) * (logP - logQ)
            }
            perExample?[n] = kl
            total += Double(kl)
            if let g = gradientOther?.data.advanced(by: n * K) {
                for k in 0..<K { g[k] = (expf(zOther[k] - lseQ) - expf(z[k] - lseP)) * scale }
            }
            if let g = gradientReference?.data.advanced(by: n * K) {
                for k in 0..<K {
                    let logP = z[k] - lseP, logQ = zOther[k] - lseQ
                    g[k] = expf(logP) * (logP - logQ - kl) * scale
                }
            }
        }
        return Float(total) * scale
    }
}
