/// y = max(x·scale[c] + shift[c], 0) for each value x of channel c: an evaluation-mode `BatchNorm` with its
/// fused ReLU, handed to the layer that reads its output (`BatchNorm.deferredForward`), which applies it
/// as it reads its input instead of the BN writing the activations in a pass of their own.
public struct ChannelAffineReLU: Sendable {
    public let scale: [Float]
    public let shift: [Float]

    /// One value of channel `channel`, as `BatchNorm.forward` computes it, bit for bit (rows of a plane
    /// go through `PlaneCopy`, which computes the same).
    @inline(__always)
    func value(channel: Int, _ x: Float) -> Float { Elementwise.relu(x * scale[channel] + shift[channel]) }
}
