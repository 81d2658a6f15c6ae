import AdvNN

/// Floating-point operations of a model's matrix work (2 per multiply–add), the yardstick for GFLOP/s.
/// Elementwise work is not counted, as PyTorch's profilers do not count it either.
struct FlopCount {
    /// One forward pass of a batch.
    var forward = 0.0
    /// One training step: forward, weight gradients, and input gradients above the first layer.
    var training = 0.0
    /// One backward pass for the input gradient only (what an attack step needs).
    var inputGradient = 0.0

    init(model: Sequential, batchShape: Shape) {
        var shape = batchShape
        var seenParameters = false
        for layer in model.layers {
            let output = layer.outputShape(for: shape)
            let multiplyAdds: Double
            switch layer {
            case let linear as Linear:
                multiplyAdds = Double(shape[0] * linear.inFeatures * linear.outFeatures)
            case let conv as Conv2D:
                multiplyAdds = Double(output.elementCount * conv.geometry.patchSize)
            default:
                multiplyAdds = 0
            }
            forward += 2 * multiplyAdds
            inputGradient += 2 * multiplyAdds
            // forward + dWeight, plus dInput unless nothing below needs it
            training += 2 * multiplyAdds * (seenParameters ? 3 : 2)
            if multiplyAdds > 0 { seenParameters = true }
            shape = output
        }
    }
}
