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

    /// Floats of scratch `im2col` and `col2im` need for images of H×W: one zero-padded copy of an
    /// image's channel planes.
    public func scratchSize(height H: Int, width W: Int) -> Int {
        inChannels * (H + 2 * padding) * (W + 2 * padding)
    }

    /// Unrolls every patch of images `images` of `input` (N, C, H, W) into `columns` (K, images·OH·OW).
    ///
    /// Each image is first copied into zero-padded planes in `scratch`, so that every row of the column
    /// matrix is one branch-free strided read: border checks per element cost more than the copy.
    /// With `activation`, the input is an evaluation-mode BatchNorm's and the copy applies its map
    /// (`Conv2D.forward(_:after:adding:)`). Runs on the calling thread (the convolution spreads chunks
    /// of images over the threads).
    public func im2col(_ input: Tensor, images: Range<Int>, into columns: Tensor, scratch: Tensor,
                       activation: ChannelAffineReLU? = nil) {
        let C = inChannels, H = input.shape[2], W = input.shape[3], Hp = H + 2 * padding, Wp = W + 2 * padding
        let OW = outputSide(W), OHW = outputSide(H) * OW, columnCount = images.count * OHW
        precondition(columns.shape == Shape(patchSize, columnCount), "im2col target \(columns.shape)")
        // a vector of slack after the planes: stride 2's vector reads go one float past a window's row
        scratch.resize(to: Shape(scratchSize(height: H, width: W) + Elementwise.width))
        let X = input.data, COL = columns.data, padded = scratch.data, s = stride, p = padding, first = images.lowerBound
        for local in 0..<images.count {
            // (1) the image's planes, zero-padded
            if p > 0 { padded.update(repeating: 0, count: C * Hp * Wp) }
            for c in 0..<C {
                PlaneCopy.copy(X + ((first + local) * C + c) * H * W, rows: H, columns: W, sourceRowStride: W,
                               columnStep: 1, into: padded + (c * Hp + p) * Wp + p, targetRowStride: Wp,
                               activation: activation, channel: c)
            }
            // (2) row (c, kh, kw) of the columns, for this image: padded[c][oh·s + kh][ow·s + kw]
            forEachWindowRow(of: padded, height: H, width: W, columns: COL + local * OHW, columnCount: columnCount) {
                paddedRow, columnRow in
                if s == 1 {
                    Elementwise.copyRow(paddedRow, to: columnRow, count: OW)
                } else if s == 2 {
                    Elementwise.copyEveryOther(paddedRow, to: columnRow, count: OW)
                } else {
                    for ow in 0..<OW { columnRow[ow] = paddedRow[ow * s] }
                }
            }
        }
    }

    /// The adjoint of `im2col`: adds each column entry back onto the input pixel it was read from.
    /// Overwrites images `images` of `gradient` (N, C, H, W). Accumulates in zero-padded planes in
    /// `scratch` (no border checks), then copies their interiors out. Runs on the calling thread.
    public func col2im(_ columns: Tensor, images: Range<Int>, into gradient: Tensor, scratch: Tensor) {
        let C = inChannels, H = gradient.shape[2], W = gradient.shape[3], Hp = H + 2 * padding, Wp = W + 2 * padding
        let OW = outputSide(W), OHW = outputSide(H) * OW, columnCount = images.count * OHW
        precondition(columns.shape == Shape(patchSize, columnCount), "col2im source \(columns.shape)")
        scratch.resize(to: Shape(scratchSize(height: H, width: W)))
        let DX = gradient.data, COL = columns.data, padded = scratch.data, s = stride, p = padding, first = images.lowerBound
        for local in 0..<images.count {
            padded.update(repeating: 0, count: C * Hp * Wp)
            // (1) padded[c][oh·s + kh][ow·s + kw] += row (c, kh, kw) of the columns
            forEachWindowRow(of: padded, height: H, width: W, columns: COL + local * OHW, columnCount: columnCount) {
                paddedRow, columnRow in
                if s == 1 {
                    Elementwise.addRow(columnRow, to: paddedRow, count: OW)
                } else {
                    for ow in 0..<OW { paddedRow[ow * s] += columnRow[ow] }
                }
            }
            // (2) the interiors are the input gradient; the padding's share is dropped
            for c in 0..<C {
                for h in 0..<H {
                    let source = padded + (c * Hp + h + p) * Wp + p
                    let target = DX + (((first + local) * C + c) * H + h) * W
                    Elementwise.copyRow(source, to: target, count: W)
                }
            }
        }
    }

    /// The correspondence im2col and col2im share, for one image: calls `body(paddedRow, columnRow)`
    /// for every row (c, kh, kw) of the column block and every output row oh, in that order, where
    /// `paddedRow` points at padded[c][oh·stride + kh][kw] (its elements `stride` apart) and
    /// `columnRow` at the OW entries of that output row.
    @inline(__always)
    private func forEachWindowRow(of padded: UnsafeMutablePointer<Float>, height H: Int, width W: Int,
                                  columns: UnsafeMutablePointer<Float>, columnCount: Int,
                                  _ body: (_ paddedRow: UnsafeMutablePointer<Float>,
                                           _ columnRow: UnsafeMutablePointer<Float>) -> Void) {
        let C = inChannels, Hp = H + 2 * padding, Wp = W + 2 * padding, KS = kernelSize
        let OH = outputSide(H), OW = outputSide(W)
        for c in 0..<C {
            for kh in 0..<KS {
                for kw in 0..<KS {
                    let row = columns + ((c * KS + kh) * KS + kw) * columnCount
                    let plane = padded + c * Hp * Wp + kh * Wp + kw
                    for oh in 0..<OH { body(plane + oh * stride * Wp, row + oh * OW) }
                }
            }
        }
    }
}
