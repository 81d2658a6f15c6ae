/// Global average pooling: the mean of each channel's plane, already flattened.
/// - input: (N, C, H, W) → output: (N, C)
public final class GlobalAvgPool: Layer {
    public var compute = ComputeContext.serial
    public var isTraining = true
    private let output = Tensor(zeros: Shape(0, 0))
    private let dInput = Tensor(zeros: Shape(0))
    private var inputShape = Shape(0)

    /// Planes below which the pooling runs on one thread (a 32-image batch of 64 planes of 7 × 7 is
    /// 100k floats, worth two threads; a few planes are not).
    static let minimumPlanes = 256

    public init() {}

    public func replica() -> GlobalAvgPool { GlobalAvgPool().computing(like: self) }

    public func outputShape(for inputShape: Shape) -> Shape {
        precondition(inputShape.rank == 4, "GlobalAvgPool needs (N, C, H, W), got \(inputShape)")
        return Shape(inputShape[0], inputShape[1])
    }

    public func forward(_ input: Tensor) -> Tensor {
        output.resize(to: outputShape(for: input.shape))
        inputShape = input.shape
        let planes = output.count, HW = input.shape[2] * input.shape[3]
        let X = input.data, Y = output.data
        compute.forEachChunk(of: planes, minimumChunk: Self.minimumPlanes) { range in
            for plane in range { Y[plane] = Elementwise.sum(X + plane * HW, count: HW) / Float(HW) }
        }
        return output
    }

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        guard request.input else { return nil }
        precondition(dOutput.shape == output.shape, "GlobalAvgPool dOutput \(dOutput.shape), output \(output.shape)")
        dInput.resize(to: inputShape)
        let planes = output.count, HW = inputShape[2] * inputShape[3]
        let dY = dOutput.data, dX = dInput.data
        compute.forEachChunk(of: planes, minimumChunk: Self.minimumPlanes) { range in
            for plane in range { (dX + plane * HW).update(repeating: dY[plane] / Float(HW), count: HW) }
        }
        return dInput
    }
}
