/// Max pooling over square windows, no padding (PyTorch's `nn.MaxPool2d(k, stride)`).
/// - input: (N, C, H, W) → output: (N, C, OH, OW), OH = (H − kernel) / stride + 1
/// The winning position of every window is remembered, and backward routes the gradient to it alone
/// (the first maximum on ties, as PyTorch does).
public final class MaxPool2D: Layer {
    public let kernelSize: Int
    public let stride: Int
    public var isTraining = true
    private let output = Tensor(zeros: Shape(0))
    private let dInput = Tensor(zeros: Shape(0))
    private var winners: [Int32] = []   // per output element: flat index within its input plane
    private var inputShape = Shape(0)

    public init(kernelSize: Int, stride: Int? = nil) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
    }

    public func replica() -> MaxPool2D { MaxPool2D(kernelSize: kernelSize, stride: stride) }

    public func outputShape(for inputShape: Shape) -> Shape {
        precondition(inputShape.rank == 4, "MaxPool2D needs (N, C, H, W), got \(inputShape)")
        return ConvolutionGeometry(inChannels: inputShape[1], outChannels: inputShape[1],
                                   kernelSize: kernelSize, stride: stride, padding: 0).outputShape(for: inputShape)
    }

    public func forward(_ input: Tensor) -> Tensor {
        let outShape = outputShape(for: input.shape)
        inputShape = input.shape
        output.resize(to: outShape)
        if winners.count < outShape.elementCount {
            winners = Array(repeating: 0, count: outShape.elementCount)
        }
        let planes = outShape[0] * outShape[1], H = input.shape[2], W = input.shape[3]
        let OH = outShape[2], OW = outShape[3], KS = kernelSize, s = stride
        let X = input.data, Y = output.data
        winners.withUnsafeMutableBufferPointer { winnerBuffer in
            let WIN = winnerBuffer.baseAddress!
            Parallel.forEachChunk(of: planes) { range in
                for plane in range {
                    let x = X + plane * H * W, y = Y + plane * OH * OW, win = WIN + plane * OH * OW
                    for oh in 0..<OH {
                        for ow in 0..<OW {
                            var bestIndex = oh * s * W + ow * s
                            var best = x[bestIndex]
                            for kh in 0..<KS {
                                let rowStart = (oh * s + kh) * W + ow * s
                                for kw in 0..<KS where x[rowStart + kw] > best {
                                    best = x[rowStart + kw]
                                    bestIndex = rowStart + kw
                                }
                            }
                            y[oh * OW + ow] = best
                            win[oh * OW + ow] = Int32(bestIndex)
                        }
                    }
                }
            }
        }
        return output
    }

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        guard request.input else { return nil }
        precondition(dOutput.shape == output.shape, "MaxPool2D dOutput \(dOutput.shape), output \(output.shape)")
        dInput.resize(to: inputShape)
        dInput.zero()
        let planes = output.shape[0] * output.shape[1], HW = inputShape[2] * inputShape[3]
        let OHW = output.shape[2] * output.shape[3]
        let dY = dOutput.data, dX = dInput.data
        winners.withUnsafeBufferPointer { winnerBuffer in
            let WIN = winnerBuffer.baseAddress!
            Parallel.forEachChunk(of: planes) { range in
                for plane in range {
                    for o in 0..<OHW {
                        dX[plane * HW + Int(WIN[plane * OHW + o])] += dY[plane * OHW + o]
                    }
                }
            }
        }
        return dInput
    }
}
