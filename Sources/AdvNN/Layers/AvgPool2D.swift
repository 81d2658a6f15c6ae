/// Average pooling over square windows, no padding (PyTorch's `nn.AvgPool2d(k, stride)`).
/// - input: (N, C, H, W) → output: (N, C, OH, OW), OH = (H − kernel) / stride + 1
public final class AvgPool2D: Layer {
    public var compute = ComputeContext.serial
    public let window: PoolingWindow
    public var kernelSize: Int { window.kernelSize }
    public var stride: Int { window.stride }
    public var isTraining = true
    private let output = Tensor(zeros: Shape(0))
    private let dInput = Tensor(zeros: Shape(0))
    private var inputShape = Shape(0)

    public init(kernelSize: Int, stride: Int? = nil) {
        window = PoolingWindow(kernelSize: kernelSize, stride: stride)
    }

    public func replica() -> AvgPool2D { AvgPool2D(kernelSize: kernelSize, stride: stride).computing(like: self) }

    public func outputShape(for inputShape: Shape) -> Shape {
        window.outputShape(for: inputShape, layer: "AvgPool2D")
    }

    public func forward(_ input: Tensor) -> Tensor {
        let outShape = outputShape(for: input.shape)
        inputShape = input.shape
        output.resize(to: outShape)
        let planes = outShape[0] * outShape[1], H = input.shape[2], W = input.shape[3]
        let OH = outShape[2], OW = outShape[3], KS = kernelSize, s = stride
        let scale = 1 / Float(KS * KS)
        let X = input.data, Y = output.data
        compute.forEachChunk(of: planes) { range in
            for plane in range {
                let x = X + plane * H * W, y = Y + plane * OH * OW
                for oh in 0..<OH {
                    for ow in 0..<OW {
                        var sum: Float = 0
                        for kh in 0..<KS {
                            for kw in 0..<KS { sum += x[(oh * s + kh) * W + ow * s + kw] }
                        }
                        y[oh * OW + ow] = sum * scale
                    }
                }
            }
        }
        return output
    }

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        guard request.input else { return nil }
        precondition(dOutput.shape == output.shape, "AvgPool2D dOutput \(dOutput.shape), output \(output.shape)")
        dInput.resize(to: inputShape)
        dInput.zero()
        let planes = output.shape[0] * output.shape[1], H = inputShape[2], W = inputShape[3]
        let OH = output.shape[2], OW = output.shape[3], KS = kernelSize, s = stride
        let scale = 1 / Float(KS * KS)
        let dY = dOutput.data, dX = dInput.data
        compute.forEachChunk(of: planes) { range in
            for plane in range {
                let dx = dX + plane * H * W, dy = dY + plane * OH * OW
                for oh in 0..<OH {
                    for ow in 0..<OW {
                        // every input in the window received 1/(k·k) of the output
                        let share = dy[oh * OW + ow] * scale
                        for kh in 0..<KS {
                            for kw in 0..<KS { dx[(oh * s + kh) * W + ow * s + kw] += share }
                        }
                    }
                }
            }
        }
        return dInput
    }
}
