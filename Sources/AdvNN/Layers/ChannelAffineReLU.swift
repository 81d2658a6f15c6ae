/// y = max(x·scale[c] + shift[c], 0) for each value x of channel c: an evaluation-mode `BatchNorm` with its
/// fused ReLU, handed to the layer that reads its output (`BatchNorm.deferredForward`), which applies it
/// as it reads its input instead of the BN writing the activations in a pass of their own.
public struct ChannelAffineReLU: Sendable {
    public let scale: [Float]
    public let shift: [Float]

    /// t[i] = max(s[i]·scale[channel] + shift[channel], 0) for i in 0..<count: each value as
    /// `BatchNorm.forward` computes it, bit for bit.
    @inline(__always)
    func apply(channel: Int, _ s: UnsafePointer<Float>, to t: UnsafeMutablePointer<Float>, count: Int) {
        Elementwise.affineReLURow(s, scale: scale[channel], shift: shift[channel], into: t, count: count)
    }

    /// One value of channel `channel`, as `apply` computes it.
    @inline(__always)
    func value(channel: Int, _ x: Float) -> Float { Elementwise.relu(x * scale[channel] + shift[channel]) }
}
