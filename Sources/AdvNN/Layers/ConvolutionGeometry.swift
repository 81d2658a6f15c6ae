/// The index arithmetic of a 2-D convolution or pooling window: output sizes, im2col and col2im.
///
/// The column matrix of a range of images has one row per patch element (c, kh, kw) — K = C·KH·KW
/// rows — and one column per output position of every image in the range, ordered (n, oh, ow):
/// shape (K, images·OH·OW). Positions that fall in the zero padding read as 0 and receive no gradient.
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

    /// The output columns ow whose input column ow·stride − padding + kw lies inside 0..<width:
    /// everything outside reads padding. Depends on kw only, so it is computed once per kernel column.
    @inline(__always)
    func validOutputColumns(kernelColumn kw: Int, inputWidth W: Int, outputWidth OW: Int) -> Range<Int> {
        let lowest = padding - kw                      // need ow·stride ≥ padding − kw
        let lower = lowest <= 0 ? 0 : (lowest + stride - 1) / stride
        let highest = W - 1 + padding - kw             // need ow·stride ≤ W − 1 + padding − kw
        let upper = highest < 0 ? 0 : min(OW, highest / stride + 1)
        return min(lower, upper)..<upper
    }

    /// Unrolls every patch of images `images` of `input` (N, C, H, W) into `columns` (K, images·OH·OW).
    public func im2col(_ input: Tensor, images: Range<Int>, into columns: Tensor) {
        let C = inChannels, H = input.shape[2], W = input.shape[3]
        let OH = outputSide(H), OW = outputSide(W), OHW = OH * OW, KS = kernelSize
        let columnCount = images.count * OHW
        precondition(columns.shape == Shape(patchSize, columnCount), "im2col target \(columns.shape)")
        let X = input.data, COL = columns.data, s = stride, p = padding, first = images.lowerBound
        Parallel.forEachChunk(of: images.count) { chunk in
            for local in chunk {
                let n = first + local
                for c in 0..<C {
                    let plane = X + (n * C + c) * H * W
                    for kh in 0..<KS {
                        for kw in 0..<KS {
                            let row = COL + ((c * KS + kh) * KS + kw) * columnCount + local * OHW
                            let valid = validOutputColumns(kernelColumn: kw, inputWidth: W, outputWidth: OW)
                            for oh in 0..<OH {
                                let target = row + oh * OW, ih = oh * s - p + kh
                                // Rows are short (14 or 28 wide here): plain loops, which the compiler
                                // unrolls, beat calls to memcpy/memset.
                                guard ih >= 0 && ih < H else {
                                    for ow in 0..<OW { target[ow] = 0 }
                                    continue
                                }
                                // left padding, the in-bounds run, right padding
                                for ow in 0..<valid.lowerBound { target[ow] = 0 }
                                let source = plane + ih * W - p + kw
                                if s == 1 {
                                    for ow in valid { target[ow] = source[ow] }
                                } else {
                                    for ow in valid { target[ow] = source[ow * s] }
                                }
                                for ow in valid.upperBound..<OW { target[ow] = 0 }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of `im2col`: adds each column entry back onto the input pixel it was read from.
    /// Overwrites images `images` of `gradient` (N, C, H, W).
    public func col2im(_ columns: Tensor, images: Range<Int>, into gradient: Tensor) {
        let C = inChannels, H = gradient.shape[2], W = gradient.shape[3]
        let OH = outputSide(H), OW = outputSide(W), OHW = OH * OW, KS = kernelSize
        let columnCount = images.count * OHW
        precondition(columns.shape == Shape(patchSize, columnCount), "col2im source \(columns.shape)")
        let DX = gradient.data, COL = columns.data, s = stride, p = padding, first = images.lowerBound
        Parallel.forEachChunk(of: images.count) { chunk in
            for local in chunk {
                let n = first + local
                (DX + n * C * H * W).update(repeating: 0, count: C * H * W)
                for c in 0..<C {
                    let plane = DX + (n * C + c) * H * W
                    for kh in 0..<KS {
                        for kw in 0..<KS {
                            let row = COL + ((c * KS + kh) * KS + kw) * columnCount + local * OHW
                            let valid = validOutputColumns(kernelColumn: kw, inputWidth: W, outputWidth: OW)
                            for oh in 0..<OH {
                                let ih = oh * s - p + kh
                                guard ih >= 0 && ih < H else { continue }
                                let source = row + oh * OW, target = plane + ih * W - p + kw
                                if s == 1 {
                                    for ow in valid { target[ow] += source[ow] }
                                } else {
                                    for ow in valid { target[ow * s] += source[ow] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
