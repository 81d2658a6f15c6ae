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
            let multiplyAdds = Self.multiplyAdds(of: layer, input: shape)
            forward += 2 * multiplyAdds
            inputGradient += 2 * multiplyAdds
            // forward + dWeight, plus dInput unless nothing below needs it
            training += 2 * multiplyAdds * (seenParameters ? 3 : 2)
            if multiplyAdds > 0 { seenParameters = true }
            shape = output
        }
    }

    /// Multiply-adds of one layer's forward pass: Linear and Conv2D, and a pre-activation block's
    /// convolutions (its shortcut included); everything else is counted as free.
    static func multiplyAdds(of layer: any Layer, input shape: Shape) -> Double {
        switch layer {
        case let linear as Linear:
            return Double(shape[0] * linear.inFeatures * linear.outFeatures)
        case let conv as Conv2D:
            return Double(conv.outputShape(for: shape).elementCount * conv.geometry.patchSize)
        case let block as PreActivationBlock:
            let inner = block.conv1.outputShape(for: shape)
            return multiplyAdds(of: block.conv1, input: shape) + multiplyAdds(of: block.conv2, input: inner)
                + (block.shortcut.map { multiplyAdds(of: $0, input: shape) } ?? 0)
        default:
            return 0
        }
    }
}
