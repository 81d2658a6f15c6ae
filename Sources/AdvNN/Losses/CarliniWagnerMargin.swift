/// The Carlini–Wagner margin loss (Carlini & Wagner 2017, f₆), written as a quantity an attack
/// maximises:
/// - untargeted: ℓ = min(max_{j≠y} z_j − z_y, κ) — positive once the example is misclassified;
/// - targeted (labels are the targets t): ℓ = min(z_t − max_{j≠t} z_j, κ).
/// The confidence κ caps the loss, so an attack stops pushing once the margin reaches κ, which is what
/// makes high-confidence adversarial examples against detectors.
public struct CarliniWagnerMargin: LabelLoss {
    public var confidence: Float
    public var isTargeted: Bool

    public init(confidence: Float = 0, isTargeted: Bool = false) {
        self.confidence = confidence
        self.isTargeted = isTargeted
    }

    public func compute(logits: Tensor, labels: [Int], reduction: Reduction,
                        gradient: Tensor?, perExample: UnsafeMutablePointer<Float>?) -> Float {
        let (N, K) = checkLogits(logits, labels: labels)
        precondition(K >= 2, "the margin loss needs at least two classes")
        gradient?.resize(to: logits.shape)
        gradient?.zero()
        let scale: Float = reduction == .mean ? 1 / Float(N) : 1
        let sign: Float = isTargeted ? -1 : 1
        var total = 0.0
        for n in 0..<N {
            let z = logits.data + n * K, y = labels[n]
            precondition(y >= 0 && y < K, "label \(y) outside 0..<\(K)")
            var other = y == 0 ? 1 : 0
            for k in 0..<K where k != y && z[k] > z[other] { other = k }
            let margin = sign * (z[other] - z[y])
            let loss = min(margin, confidence)
            perExample?[n] = loss
            total += Double(loss)
            if margin < confidence, let g = gradient?.data.advanced(by: n * K) {
                g[other] += sign * scale
                g[y] -= sign * scale
            }
        }
        return Float(total) * scale
    }
}
