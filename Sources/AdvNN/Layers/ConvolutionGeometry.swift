/// The index arithmetic of a 2-D convolution or pooling window: output sizes, im2col and col2im.
///
/// The column matrix has one row per patch element (c, kh, kw) — K = C·KH·KW rows — and one column
/// per output position of every image, ordered (n, oh, ow): shape (K, N·OH·OW). Positions that fall
/// in the zero padding read as 0 and receive no gradient.
public struct ConvolutionGeometry: Sendable, Equatable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int

    public init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int, padding: Int) {
        precondition(kernelSize > 0 && stride > 0 && padding >= 0,
                     "bad convolution: kernel \(kernelSize), stride \(stride), padding \(padding)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
    }

    /// Elements per patch, K = C·KH·KW: the fan-in of one output.
    public var patchSize: Int { inChannels * kernelSize * kernelSize }

    /// Output side length for an input side length.
    public func outputSide(_ inputSide: Int) -> Int {
        (inputSide + 2 * padding - kernelSize) / stride + 1
    }

    /// (N, OC, OH, OW) for an (N, C, H, W) input; traps with the shapes when they do not fit.
    public func outputShape(for inputShape: Shape) -> Shape {
        precondition(inputShape.rank == 4 && inputShape[1] == inChannels,
                     "convolution over \(inChannels) channels got input \(inputShape)")
        let height = outputSide(inputShape[2]), width = outputSide(inputShape[3])
        precondition(height > 0 && width > 0, "kernel \(kernelSize) too large for input \(inputShape)")
        return Shape(inputShape[0], outChannels, height, width)
    }

    /// Unrolls every patch of `input` (N, C, H, W) into `columns` (K, N·OH·OW).
    public func im2col(_ input: Tensor, into columns: Tensor) {
        let N = input.shape[0], C = inChannels, H = input.shape[2], W = input.shape[3]
        let OH = outputSide(H), OW = outputSide(W), OHW = OH * OW, KS = kernelSize
        let columnCount = N * OHW
        precondition(columns.shape == Shape(patchSize, columnCount), "im2col target \(columns.shape)")
        let X = input.data, COL = columns.data
        let s = stride, p = padding
        Parallel.forEachChunk(of: N) { images in
            for n in images {
                for c in 0..<C {
                    let plane = X + (n * C + c) * H * W
                    for kh in 0..<KS {
                        for kw in 0..<KS {
                            let row = COL + ((c * KS + kh) * KS + kw) * columnCount + n * OHW
                            for oh in 0..<OH {
                                let ih = oh * s - p + kh
                                let target = row + oh * OW
                                guard ih >= 0 && ih < H else {
                                    target.update(repeating: 0, count: OW)
                                    continue
                                }
                                let source = plane + ih * W
                                for ow in 0..<OW {
                                    let iw = ow * s - p + kw
                                    target[ow] = (iw >= 0 && iw < W) ? source[iw] : 0
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of `im2col`: adds each column entry back onto the input pixel it was read from.
    /// Overwrites `gradient` (N, C, H, W).
    public func col2im(_ columns: Tensor, into gradient: Tensor) {
        let N = gradient.shape[0], C = inChannels, H = gradient.shape[2], W = gradient.shape[3]
        let OH = outputSide(H), OW = outputSide(W), OHW = OH * OW, KS = kernelSize
        let columnCount = N * OHW
        precondition(columns.shape == Shape(patchSize, columnCount), "col2im source \(columns.shape)")
        let DX = gradient.data, COL = columns.data
        let s = stride, p = padding
        Parallel.forEachChunk(of: N) { images in
            for n in images {
                (DX + n * C * H * W).update(repeating: 0, count: C * H * W)
                for c in 0..<C {
                    let plane = DX + (n * C + c) * H * W
                    for kh in 0..<KS {
                        for kw in 0..<KS {
                            let row = COL + ((c * KS + kh) * KS + kw) * columnCount + n * OHW
                            for oh in 0..<OH {
                                let ih = oh * s - p + kh
                                guard ih >= 0 && ih < H else { continue }
                                let source = row + oh * OW, target = plane + ih * W
                                for ow in 0..<OW {
                                    let iw = ow * s - p + kw
                                    if iw >= 0 && iw < W { target[iw] += source[ow] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
