/// Max pooling over square windows, no padding (PyTorch's `nn.MaxPool2d(k, stride)`).
/// - input: (N, C, H, W) → output: (N, C, OH, OW), OH = (H − kernel) / stride + 1
/// The winning position of every window is remembered, and backward routes the gradient to it alone
/// (the first maximum on ties, as PyTorch does).
public final class MaxPool2D: Layer {
    public var compute = ComputeContext.serial
    public let window: PoolingWindow
    public var kernelSize: Int { window.kernelSize }
    public var stride: Int { window.stride }
    public var isTraining = true
    private let output = Tensor(zeros: Shape(0))
    private let dInput = Tensor(zeros: Shape(0))
    private var winners: [Int32] = []   // per output element: flat index within its input plane
    private var inputShape = Shape(0)

    public init(kernelSize: Int, stride: Int? = nil) {
        window = PoolingWindow(kernelSize: kernelSize, stride: stride)
    }

    public func replica() -> MaxPool2D { MaxPool2D(kernelSize: kernelSize, stride: stride).computing(like: self) }

    public func outputShape(for inputShape: Shape) -> Shape {
        window.outputShape(for: inputShape, layer: "MaxPool2D")
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
            compute.forEachChunk(of: planes) { range in
                for plane in range {
                    let x = X + plane * H * W, y = Y + plane * OH * OW, win = WIN + plane * OH * OW
                    if KS == 2 && s == 2 {
                        Self.pool2x2(x, width: W, into: y, winners: win, outputHeight: OH, outputWidth: OW)
                        continue
                    }
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
        let planes = output.shape[0] * output.shape[1], HW = inputShape[2] * inputShape[3]
        let OHW = output.shape[2] * output.shape[3]
        let dY = dOutput.data, dX = dInput.data
        winners.withUnsafeBufferPointer { winnerBuffer in
            let WIN = winnerBuffer.baseAddress!
            compute.forEachChunk(of: planes) { range in
                for plane in range {
                    // each thread zeroes its own planes: one pass over memory it is about to write anyway
                    (dX + plane * HW).update(repeating: 0, count: HW)
                    for o in 0..<OHW {
                        dX[plane * HW + Int(WIN[plane * OHW + o])] += dY[plane * OHW + o]
                    }
                }
            }
        }
        return dInput
    }

    /// The common 2×2, stride-2 window, unrolled: the first maximum of x[2oh.., 2ow..] in row-major order.
    @inline(__always)
    private static func pool2x2(_ x: UnsafePointer<Float>, width W: Int, into y: UnsafeMutablePointer<Float>,
                                winners: UnsafeMutablePointer<Int32>, outputHeight OH: Int, outputWidth OW: Int) {
        for oh in 0..<OH {
            let top = 2 * oh * W, bottom = top + W
            for ow in 0..<OW {
                // selects, not branches: which element wins is data-dependent and unpredictable
                let a = top + 2 * ow, c = bottom + 2 * ow
                var best = x[a], index = a
                let vb = x[a + 1], vc = x[c], vd = x[c + 1]
                index = vb > best ? a + 1 : index; best = vb > best ? vb : best
                index = vc > best ? c : index; best = vc > best ? vc : best
                index = vd > best ? c + 1 : index; best = vd > best ? vd : best
                y[oh * OW + ow] = best
                winners[oh * OW + ow] = Int32(index)
            }
        }
    }
}
