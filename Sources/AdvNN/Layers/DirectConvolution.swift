import CKernels

/// The flat layout the direct kernels read and write, for one convolution, one input size and a chunk
/// of images (see `direct_convolution.h`): the backward's, and the forward's where a batch or a patch
/// is too small for image cells (`ImageCellConvolution`).
///
/// Stride 1: each channel's zero-padded images, one after another, are read as one long row, and
/// neighbours share their padding: a row is P zeros (P = the padding) and then the image row's W
/// floats, so the zeros that open the next row pad this one's right side; an image is P zero rows and
/// then its H rows, so the zero rows that open the next image pad this one's bottom. Output position
/// q = image·imageStride + oh·rowStride + ow reads q + kh·rowStride + kw. The kernels compute every q
/// below `length`; the positions past each output row and past each image's OH rows are unused. Shared
/// padding computes fewer unused positions than a border around every plane (on 7×7 images, 64 per 49
/// outputs instead of 81) and has fewer zeros to write.
///
/// The input gradient is the same correlation of dOutput, padded by P' = KS − 1 − P, with the weights
/// flipped. Its strides are the forward's (OW + P' = W + P, OH + P' = H + P), so one padded copy of
/// dOutput serves the weight gradient too: read P' rows and columns in (`gradientOffset`), it is
/// dOutput at the forward's output positions, with zeros at the unused ones.
///
/// Stride s > 1: each channel's padded images are split into phase planes, phase (a, b) holding the
/// padded rows a, a + s, … and columns b, b + s, …, so that output (oh, ow) reads element (kh, kw) at
/// row oh + kh / s, column ow + kw / s of phase (kh mod s, kw mod s): contiguous again, and no unrolled
/// copy — the phases hold each input float once. A phase row holds OW + R floats, R = (KS − 1) / s, and
/// a phase image OH + R rows, a border around each (the phases cannot share padding as stride 1's
/// planes do).
///
/// The input gradient then goes phase by phase (`forEachGradientPhase`): phase position (i, j) is read
/// by the elements (kh, kw) = (s·u + a, s·v + b) only, at outputs (i − u, j − v), so each phase's
/// gradient is a stride-1 correlation of dOutput, padded by R, with those few elements flipped: every
/// read contiguous again, and no multiplication by an element that does not read the phase. dOutput
/// padded by R has the phases' strides, so, read R rows and columns in, it is dOutput at the forward's
/// output positions for the weight gradient, as at stride 1. Stride 1 is the case of one phase.
struct DirectConvolution {
    let geometry: ConvolutionGeometry
    let images: Int
    let height: Int, width: Int                    // the input's
    let outputHeight: Int, outputWidth: Int
    /// Floats from one row to the next, and from one image to the next, in the padded input (each
    /// phase plane of it), the padded dOutput and the flat outputs of both correlations alike.
    let rowStride: Int, imageStride: Int
    /// Positions the forward kernel computes per output channel.
    let length: Int
    /// Phase planes per side (min(KS, s): a 1×1 stride-2 kernel reads one phase), and floats from one phase
    /// plane to the next: a chunk's images of one phase. One phase of `planeStride` at stride 1.
    let phasesPerSide: Int, phaseStride: Int
    /// dOutput's padding for the input gradient's correlation: P' = KS − 1 − P at stride 1, whose
    /// correlation computes the input's positions; R = (KS − 1) / s at stride s, whose correlations
    /// compute the phases' positions, padding included.
    let gradientPadding: Int
    /// Positions the input gradient's correlation computes per input channel (each phase's, at stride s).
    let gradientLength: Int
    /// Floats from one channel's padded planes to the next's: the images (or their phases), and at
    /// stride 1 room for the weight gradient's `length` reads of dOutput starting `gradientOffset` in.
    let planeStride: Int
    /// Floats from one output channel's padded dOutput planes to the next's: `planeStride` at stride 1.
    let gradientPlaneStride: Int

    /// Floats of a chunk's padded input planes (128 KB). Longer rows spare the weight gradient's kernel
    /// its per-row sums (on 7×7 planes, 37 GFLOP/s for one image a row, 47 for four), but add the unused
    /// rows between images to every kernel's work: in the kernels' benchmark, one to four images a row
    /// on 14×14 and 28×28 planes ran within 10% of each other.
    static let chunkBudget = 1 << 15

    /// Whether a layer runs direct: padding below the kernel size (so that stride 1's dOutput padding
    /// P' is not negative), any stride.
    static func applies(to geometry: ConvolutionGeometry) -> Bool {
        geometry.padding < geometry.kernelSize
    }

    /// Images per chunk for inputs of height × width: as many as keep the padded planes in `chunkBudget`.
    static func imagesPerChunk(_ geometry: ConvolutionGeometry, height: Int, width: Int) -> Int {
        let layout = DirectConvolution(geometry, height: height, width: width, images: 1)
        let perImage = geometry.inChannels * layout.phasesPerSide * layout.phasesPerSide * layout.imageStride
        return max(1, chunkBudget / max(perImage, 1))
    }

    init(_ geometry: ConvolutionGeometry, height: Int, width: Int, images: Int) {
        precondition(Self.applies(to: geometry),
                     "direct convolution needs padding below the kernel size, got \(geometry)")
        self.geometry = geometry
        self.images = images
        self.height = height
        self.width = width
        let KS = geometry.kernelSize, P = geometry.padding, s = geometry.stride
        outputHeight = geometry.outputSide(height)
        outputWidth = geometry.outputSide(width)
        if s == 1 {
            rowStride = width + P
            imageStride = (height + P) * rowStride
            length = Self.roundedUp((images - 1) * imageStride + outputHeight * rowStride)
            gradientPadding = KS - 1 - P
            gradientLength = Self.roundedUp((images - 1) * imageStride + height * rowStride)
            planeStride = max(images * imageStride, gradientPadding * rowStride + gradientPadding + length)
            gradientPlaneStride = planeStride
            phasesPerSide = 1
            phaseStride = planeStride
        } else {
            let reach = (KS - 1) / s
            rowStride = outputWidth + reach
            imageStride = (outputHeight + reach) * rowStride
            length = Self.roundedUp((images - 1) * imageStride + outputHeight * rowStride)
            phasesPerSide = min(KS, s)
            phaseStride = images * imageStride
            gradientPadding = reach
            gradientLength = Self.roundedUp(images * imageStride)
            planeStride = phasesPerSide * phasesPerSide * phaseStride
            gradientPlaneStride = max(images * imageStride, reach * rowStride + reach + length)
        }
    }

    /// Where kernel element k = kh·KS + kw is read, relative to an output position's offset in a channel's
    /// padded planes: its phase plane's offset plus (kh / s)·rowStride + kw / s, which at stride 1 (one
    /// phase) is kh·rowStride + kw.
    func tap(_ k: Int) -> Int {
        let KS = geometry.kernelSize, s = geometry.stride, kh = k / KS, kw = k % KS
        return ((kh % s) * phasesPerSide + kw % s) * phaseStride + kh / s * rowStride + kw / s
    }

    /// The farthest tap.
    var largestTap: Int {
        var largest = 0
        for k in 0..<geometry.kernelSize * geometry.kernelSize { largest = max(largest, tap(k)) }
        return largest
    }

    /// Calls `body` with the KS² taps in a buffer on the stack (a layout is made per chunk, and a training
    /// step allocates nothing on the heap).
    func withTaps<R>(_ body: (UnsafePointer<Int>) -> R) -> R {
        let count = geometry.kernelSize * geometry.kernelSize
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { buffer in
            for k in 0..<count { buffer[k] = tap(k) }
            return body(UnsafePointer(buffer.baseAddress!))
        }
    }

    private static func roundedUp(_ count: Int) -> Int {
        let multiple = Int(ADV_DIRECT_LENGTH_MULTIPLE)
        return (count + multiple - 1) / multiple * multiple
    }

    /// Output channels rounded up to the kernels' block of four: the weight gradient's dOutput planes.
    static func blockedRows(_ channels: Int) -> Int {
        (channels + Int(ADV_DIRECT_BLOCK) - 1) / Int(ADV_DIRECT_BLOCK) * Int(ADV_DIRECT_BLOCK)
    }

    /// Where image `image`, row `row` starts in a channel's flat output: the forward's, or the input
    /// gradient's.
    func offset(image: Int, row: Int) -> Int { image * imageStride + row * rowStride }

    /// Where the weight gradient reads dOutput (at the forward's output positions) in its padded planes.
    var gradientOffset: Int { gradientPadding * rowStride + gradientPadding }

    /// Floats of the padded input planes (the kernels read a little past the last one).
    var inputFloats: Int {
        max(geometry.inChannels * planeStride,
            adv_direct_input_floats(geometry.inChannels, planeStride, largestTap, length))
    }

    /// Floats of dOutput's padded planes: what the input gradient's correlation reads past the last
    /// one (its farthest tap is element (0, 0)'s, R rows and R columns in), and at least a plane of
    /// zeros for each output channel the weight gradient's block of four adds past the last.
    var gradientInputFloats: Int {
        max(adv_direct_input_floats(geometry.outChannels, gradientPlaneStride, gradientTap(0), gradientLength),
            Self.blockedRows(geometry.outChannels) * gradientPlaneStride)
    }

    /// Copies images `images` of the layer's input (N, C, H, W) into `target` (`inputFloats` of it): the
    /// forward's and the weight gradient's correlation input. With `activation`, the input is a
    /// BatchNorm's and what is copied its output, computed on the way.
    func padInput(_ input: UnsafePointer<Float>, images: Range<Int>, into target: UnsafeMutablePointer<Float>,
                  activation: ChannelAffineReLU? = nil) {
        if geometry.stride == 1 {
            pad(input, images: images, channels: geometry.inChannels, height: height, width: width,
                padding: geometry.padding, planeStride: planeStride, into: target, total: inputFloats,
                activation: activation)
        } else {
            splitPhases(input, images: images, into: target, activation: activation)
        }
    }

    /// Copies images `images` of dOutput (N, OC, OH, OW), padded by P', into `target`
    /// (`gradientInputFloats` of it): the input gradient's correlation input, and the weight gradient's
    /// dOutput from `gradientOffset` on.
    func padGradient(_ dOutput: UnsafePointer<Float>, images: Range<Int>, into target: UnsafeMutablePointer<Float>) {
        pad(dOutput, images: images, channels: geometry.outChannels, height: outputHeight, width: outputWidth,
            padding: gradientPadding, planeStride: gradientPlaneStride, into: target, total: gradientInputFloats)
    }

    /// Copies images `images` of `source` (N, channels, height, width) into `target` in the layout (both
    /// callers' sizes padded have its strides): each channel's images `planeStride` apart, each image
    /// `padding` zero rows and then its rows, each row `padding` zeros and then its `width` floats
    /// (through `activation` where there is one: the padding stays zero); zeroes the `total` floats
    /// around them first.
    private func pad(_ source: UnsafePointer<Float>, images: Range<Int>, channels: Int, height: Int, width: Int,
                     padding: Int, planeStride: Int, into target: UnsafeMutablePointer<Float>, total: Int,
                     activation: ChannelAffineReLU? = nil) {
        target.update(repeating: 0, count: total)
        for (local, n) in images.enumerated() {
            for c in 0..<channels {
                let image = target + c * planeStride + local * imageStride + padding * rowStride + padding
                PlaneCopy.copy(source + (n * channels + c) * height * width, rows: height, columns: width,
                               sourceRowStride: width, columnStep: 1, into: image, targetRowStride: rowStride,
                               activation: activation, channel: c)
            }
        }
    }

    /// The stride-s layout of `padInput`: each phase (a, b) of each image's channel is one strided copy,
    /// phase row i and column j taking the input's row s·i + a − P and column s·j + b − P where those
    /// lie in the image. Zeroes `inputFloats` first: the padding and the border of every phase image.
    private func splitPhases(_ source: UnsafePointer<Float>, images: Range<Int>, into target: UnsafeMutablePointer<Float>,
                             activation: ChannelAffineReLU?) {
        let C = geometry.inChannels, P = geometry.padding, s = geometry.stride
        target.update(repeating: 0, count: inputFloats)
        for (local, n) in images.enumerated() {
            for c in 0..<C {
                let plane = source + (n * C + c) * height * width
                for a in 0..<phasesPerSide {
                    let rows = phaseRows(a)
                    for b in 0..<phasesPerSide {
                        let columns = phaseColumns(b)
                        guard !rows.isEmpty && !columns.isEmpty else { continue }
                        let phase = target + c * planeStride + (a * phasesPerSide + b) * phaseStride + local * imageStride
                        PlaneCopy.copy(plane + (s * rows.lowerBound + a - P) * width + s * columns.lowerBound + b - P,
                                       rows: rows.count, columns: columns.count, sourceRowStride: s * width,
                                       columnStep: s, into: phase + rows.lowerBound * rowStride + columns.lowerBound,
                                       targetRowStride: rowStride, activation: activation, channel: c)
                    }
                }
            }
        }
    }

    /// `packed` = W (OC, C, KS, KS) as the kernels read it, for the forward correlation, or transposed
    /// for the input gradient's (its outputs are then the C input channels), one phase's elements after
    /// another (`forEachGradientPhase`: at stride 1 the kernel flipped). Depends on the geometry alone,
    /// not on the input's size.
    static func pack(_ weights: Tensor, of geometry: ConvolutionGeometry, forInputGradient: Bool, into packed: Tensor) {
        let outputs = forInputGradient ? geometry.inChannels : geometry.outChannels
        let inputs = forInputGradient ? geometry.outChannels : geometry.inChannels
        let KS = geometry.kernelSize
        packed.resize(to: Shape(blockedRows(outputs) * inputs * KS * KS))
        guard forInputGradient else {
            withUnsafeTemporaryAllocation(of: Int.self, capacity: KS * KS) { elements in
                for k in 0..<KS * KS { elements[k] = k }
                adv_direct_pack_weights(weights.data, geometry.outChannels, geometry.inChannels, KS,
                                        elements.baseAddress!, KS * KS, 0, packed.data)
            }
            return
        }
        var offset = 0
        forEachGradientPhase(of: geometry) { _, _, elements in
            adv_direct_pack_weights(weights.data, geometry.outChannels, geometry.inChannels, KS,
                                    elements.baseAddress!, elements.count, 1, packed.data + offset)
            offset += blockedRows(outputs) * inputs * elements.count
        }
    }

    /// The phase rows i (phase (a, ·)) that hold rows of the input: those whose input row s·i + a − P lies
    /// in 0..<height, within the phase image's OH + R rows; the input's other rows no output reads.
    func phaseRows(_ a: Int) -> Range<Int> {
        phaseIndices(a, size: height, limit: imageStride / rowStride)
    }

    /// The phase columns j (phase (·, b)) that hold columns of the input, as `phaseRows`.
    func phaseColumns(_ b: Int) -> Range<Int> {
        phaseIndices(b, size: width, limit: rowStride)
    }

    /// The phase indices i whose input index s·i + offset − P lies in 0..<size, and below `limit`.
    private func phaseIndices(_ offset: Int, size: Int, limit: Int) -> Range<Int> {
        let P = geometry.padding, s = geometry.stride
        let first = (P - offset + s - 1) / s   // offset < s, so P − offset + s − 1 ≥ 0
        let last = size - 1 + P - offset
        return last < 0 ? 0..<0 : first..<max(first, min(limit, last / s + 1))
    }

    /// flat (OC, length) = the correlation of the padded input planes with the packed weights.
    func correlate(padded: UnsafePointer<Float>, packed: UnsafePointer<Float>, into flat: UnsafeMutablePointer<Float>,
                   kernel: DirectConvolutionKernel = .fastest) {
        withTaps { taps in
            kernel.correlate(padded, geometry.inChannels, planeStride, taps, geometry.kernelSize * geometry.kernelSize,
                             packed, geometry.outChannels, flat, length)
        }
    }

    /// dW (OC, C, KS, KS) += the correlation of the padded input planes with dOutput, from its padded
    /// planes (`gradientInputFloats` of them, as the input gradient reads them).
    func addWeightGradient(padded: UnsafePointer<Float>, paddedGradient: UnsafePointer<Float>,
                           into weightGradient: UnsafeMutablePointer<Float>,
                           kernel: DirectConvolutionKernel = .fastest) {
        withTaps { taps in
            kernel.weightGradient(padded, geometry.inChannels, planeStride, taps, geometry.kernelSize,
                                  paddedGradient + gradientOffset, gradientPlaneStride, geometry.outChannels, length,
                                  weightGradient)
        }
    }
}

/// The direct convolution's C kernels: AVX-512, or AVX2 and FMA, or their portable twins (the tests
/// compare each vector kernel with its twin where the CPU runs it).
public enum DirectConvolutionKernel: String, CustomStringConvertible, Sendable {
    case avx512 = "AVX-512", avx2 = "AVX2 and FMA", portable

    public var description: String { rawValue }

    /// Whether this CPU has the kernel's instructions.
    public var isAvailable: Bool {
        switch self {
        case .avx512: adv_direct_has_avx512() != 0
        case .avx2: adv_direct_has_avx2_fma() != 0
        case .portable: true
        }
    }

    /// The widest this CPU runs.
    public static let fastest: DirectConvolutionKernel = [.avx512, .avx2].first { $0.isAvailable } ?? .portable

    /// The flat kernel (`adv_direct_correlate`) over `tapCount` taps: KS² for a whole kernel.
    public func correlate(_ input: UnsafePointer<Float>, _ channels: Int, _ planeStride: Int, _ taps: UnsafePointer<Int>,
                          _ tapCount: Int, _ packed: UnsafePointer<Float>, _ outChannels: Int,
                          _ output: UnsafeMutablePointer<Float>, _ length: Int) {
        switch self {
        case .avx512:
            adv_direct_correlate_avx512(input, channels, planeStride, taps, tapCount, packed, outChannels,
                                        output, length)
        case .avx2:
            adv_direct_correlate_avx2(input, channels, planeStride, taps, tapCount, packed, outChannels,
                                      output, length)
        case .portable:
            adv_direct_correlate_portable(input, channels, planeStride, taps, tapCount, packed, outChannels,
                                          output, length)
        }
    }

    /// The image-cell kernel (`adv_cells_correlate`): `count` output cells from `positions`.
    public func correlateCells(_ input: UnsafePointer<Float>, _ channels: Int, _ planeStride: Int,
                               _ taps: UnsafePointer<Int>, _ kernelSize: Int, _ packed: UnsafePointer<Float>,
                               _ outChannels: Int, _ positions: UnsafePointer<Int>, _ count: Int,
                               _ output: UnsafeMutablePointer<Float>, _ outputStride: Int) {
        switch self {
        case .avx512:
            adv_cells_correlate_avx512(input, channels, planeStride, taps, kernelSize, packed, outChannels, positions,
                                       count, output, outputStride)
        case .avx2:
            adv_cells_correlate_avx2(input, channels, planeStride, taps, kernelSize, packed, outChannels, positions,
                                     count, output, outputStride)
        case .portable:
            adv_cells_correlate_portable(input, channels, planeStride, taps, kernelSize, packed, outChannels, positions,
                                         count, output, outputStride)
        }
    }

    public func weightGradient(_ input: UnsafePointer<Float>, _ channels: Int, _ planeStride: Int, _ taps: UnsafePointer<Int>,
                               _ kernelSize: Int, _ gradient: UnsafePointer<Float>, _ gradientStride: Int,
                               _ outChannels: Int, _ length: Int, _ weightGradient: UnsafeMutablePointer<Float>) {
        switch self {
        case .avx512:
            adv_direct_weight_gradient_avx512(input, channels, planeStride, taps, kernelSize, gradient,
                                              gradientStride, outChannels, length, weightGradient)
        case .avx2:
            adv_direct_weight_gradient_avx2(input, channels, planeStride, taps, kernelSize, gradient,
                                            gradientStride, outChannels, length, weightGradient)
        case .portable:
            adv_direct_weight_gradient_portable(input, channels, planeStride, taps, kernelSize, gradient,
                                                gradientStride, outChannels, length, weightGradient)
        }
    }
}
