import Foundation

/// Whether a loss's gradient is of the batch mean (training) or of the sum over examples (attacks,
/// where each example's gradient must not shrink with the batch size).
public enum Reduction: Sendable {
    case mean, sum
}

/// A loss of logits against integer labels, with its gradient with respect to the logits.
/// - logits: (N, K); labels: N class indices in 0..<K.
public protocol LabelLoss: Sendable {
    /// Computes the loss of every example, optionally writing each into `perExample` (N values) and
    /// the gradient of the reduced loss into `gradient` (resized to (N, K)).
    /// - Returns: the reduced loss (mean or sum over the batch).
    func compute(logits: Tensor, labels: [Int], reduction: Reduction,
                 gradient: Tensor?, perExample: UnsafeMutablePointer<Float>?) -> Float
}

extension LabelLoss {
    /// The mean loss and no gradient.
    public func value(logits: Tensor, labels: [Int]) -> Float {
        compute(logits: logits, labels: labels, reduction: .mean, gradient: nil, perExample: nil)
    }
}

/// Numerically stable softmax helpers shared by the losses.
enum Softmax {
    /// log Σ exp(z) over `count` logits, computed as m + log Σ exp(z − m) with m = max z.
    @inline(__always)
    static func logSumExp(_ z: UnsafePointer<Float>, count: Int) -> Float {
        var m = z[0]
        for k in 1..<count where z[k] > m { m = z[k] }
        var sum: Float = 0
        for k in 0..<count { sum += expf(z[k] - m) }
        return m + logf(sum)
    }

    /// Writes softmax(z) into `p`.
    @inline(__always)
    static func probabilities(_ z: UnsafePointer<Float>, count: Int, into p: UnsafeMutablePointer<Float>) {
        let lse = logSumExp(z, count: count)
        for k in 0..<count { p[k] = expf(z[k] - lse) }
    }
}

/// Checks shared by every label loss; traps with the shapes, since a mismatch is a programming error.
@inline(__always)
func checkLogits(_ logits: Tensor, labels: [Int]) -> (batch: Int, classes: Int) {
    precondition(logits.shape.rank == 2, "logits must be (N, K), got \(logits.shape)")
    let N = logits.shape[0], K = logits.shape[1]
    precondition(labels.count == N, "\(labels.count) labels for logits \(logits.shape)")
    return (N, K)
}
