/// Channels-last unrolling (im2row), which the convolution's backward uses when the input has many
/// channels.
///
/// The row matrix of a range of images has one row per output position of every image, ordered
/// (n, oh, ow), and one column per patch element in channels-last order (kh, kw, c): shape
/// (images·OH·OW, K). With the image held channels-last, a row is KH runs of KW·C contiguous floats, so
/// unrolling copies long runs instead of im2col's rows as short as an output row (14 floats in
/// cnn-small), about twice as fast for both the unrolling and its adjoint.
extension ConvolutionGeometry {
    /// Whether the backward unrolls channels-last: when a run (KW·C floats) is at least 32 long.
    public var unrollsChannelsLast: Bool { inChannels * kernelSize >= 32 }

    /// Whether the forward unrolls channels-last too, for outputs `outputWidth` wide: when im2col's output
    /// rows are shorter than a vector (it copies them float by float) and windows overlap (kernel larger
    /// than the stride, so im2col copies each input float more than once, where im2row's channels-last
    /// copy reads each once). Measured on the ResNet's 7 × 7 stage: its 3 × 3 convolutions 20–25% faster
    /// by rows; the 1 × 1 stride-2 shortcut 15% slower, and 14-wide rows (vector copies) no faster.
    public func forwardUnrollsChannelsLast(outputWidth: Int) -> Bool {
        unrollsChannelsLast && outputWidth < Elementwise.ShortVector.scalarCount && kernelSize > stride
    }

    /// The column of patch element (c, kh, kw) in the row matrix.
    @inline(__always)
    public func channelsLastIndex(channel c: Int, row kh: Int, column kw: Int) -> Int {
        (kh * kernelSize + kw) * inChannels + c
    }

    /// Unrolls images `images` of `input` (N, C, H, W) into `rows` (images·OH·OW, K), channels last.
    /// Runs on the calling thread; `scratch` holds one zero-padded image, channels last. With
    /// `activation`, as `im2col`.
    public func im2row(_ input: Tensor, images: Range<Int>, into rows: Tensor, scratch: Tensor,
                       activation: ChannelAffineReLU? = nil) {
        let C = inChannels, H = input.shape[2], W = input.shape[3], Wp = W + 2 * padding, KS = kernelSize
        let OH = outputSide(H), OW = outputSide(W), K = patchSize, run = KS * C
        precondition(rows.shape == Shape(images.count * OH * OW, K), "im2row target \(rows.shape)")
        scratch.resize(to: Shape(scratchSize(height: H, width: W)))
        let padded = scratch.data, ROWS = rows.data
        for (local, n) in images.enumerated() {
            copyChannelsLast(input, image: n, into: padded, activation: activation)
            for oh in 0..<OH {
                for ow in 0..<OW {
                    let row = ROWS + ((local * OH + oh) * OW + ow) * K
                    for kh in 0..<KS {
                        Elementwise.copyRow(padded + ((oh * stride + kh) * Wp + ow * stride) * C, to: row + kh * run,
                                            count: run)
                    }
                }
            }
        }
    }

    /// The adjoint of `im2row`: adds each row entry back onto the input pixel it was read from, and
    /// overwrites images `images` of `gradient` (N, C, H, W) with the sums. Runs on the calling thread.
    public func row2im(_ rows: Tensor, images: Range<Int>, into gradient: Tensor, scratch: Tensor) {
        let C = inChannels, H = gradient.shape[2], W = gradient.shape[3], Hp = H + 2 * padding
        let Wp = W + 2 * padding, KS = kernelSize, p = padding
        let OH = outputSide(H), OW = outputSide(W), K = patchSize, run = KS * C
        precondition(rows.shape == Shape(images.count * OH * OW, K), "row2im source \(rows.shape)")
        scratch.resize(to: Shape(scratchSize(height: H, width: W)))
        let padded = scratch.data, ROWS = rows.data, DX = gradient.data
        for (local, n) in images.enumerated() {
            padded.update(repeating: 0, count: Hp * Wp * C)
            for oh in 0..<OH {
                for ow in 0..<OW {
                    let row = ROWS + ((local * OH + oh) * OW + ow) * K
                    for kh in 0..<KS {
                        Elementwise.addRow(row + kh * run, to: padded + ((oh * stride + kh) * Wp + ow * stride) * C,
                                           count: run)
                    }
                }
            }
            // the interior is the input gradient, back to (C, H, W); the padding's share is dropped
            for c in 0..<C {
                for h in 0..<H {
                    let target = DX + ((n * C + c) * H + h) * W, source = padded + ((h + p) * Wp + p) * C + c
                    for w in 0..<W { target[w] = source[w * C] }
                }
            }
        }
    }

    /// Image `n` of `input` (N, C, H, W) as (H + 2p, W + 2p, C), zero-padded; through `activation`
    /// where there is one (the padding stays zero).
    private func copyChannelsLast(_ input: Tensor, image n: Int, into padded: UnsafeMutablePointer<Float>,
                                  activation: ChannelAffineReLU?) {
        let C = inChannels, H = input.shape[2], W = input.shape[3], Hp = H + 2 * padding, Wp = W + 2 * padding
        let p = padding, X = input.data
        padded.update(repeating: 0, count: Hp * Wp * C)
        for c in 0..<C {
            for h in 0..<H {
                let source = X + ((n * C + c) * H + h) * W, target = padded + ((h + p) * Wp + p) * C + c
                if let activation {
                    for w in 0..<W { target[w * C] = activation.value(channel: c, source[w]) }
                } else {
                    for w in 0..<W { target[w * C] = source[w] }
                }
            }
        }
    }
}
