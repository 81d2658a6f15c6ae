/// The square, unpadded window that max and average pooling slide over each channel plane.
public struct PoolingWindow: Sendable, Equatable {
    public let kernelSize: Int
    public let stride: Int

    /// A window of `kernelSize`, moving by `stride` (by default the kernel size: non-overlapping).
    public init(kernelSize: Int, stride: Int? = nil) {
        precondition(kernelSize > 0 && (stride ?? 1) > 0, "bad pooling window: kernel \(kernelSize), stride \(stride ?? kernelSize)")
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
    }

    /// (N, C, OH, OW) with OH = (H − kernel) / stride + 1; traps with the shape when it does not fit.
    public func outputShape(for inputShape: Shape, layer: String) -> Shape {
        precondition(inputShape.rank == 4, "\(layer) needs (N, C, H, W), got \(inputShape)")
        return ConvolutionGeometry(inChannels: inputShape[1], outChannels: inputShape[1],
                                   kernelSize: kernelSize, stride: stride, padding: 0).outputShape(for: inputShape)
    }
}
