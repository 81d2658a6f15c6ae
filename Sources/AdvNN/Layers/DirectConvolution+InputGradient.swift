import CKernels

/// The direct input gradient (see `DirectConvolution`'s layout): dOutput, padded, correlated with the
/// weights phase by phase — one phase at stride 1, the kernel flipped; s × s at stride s, each with the
/// few kernel elements that read it — and each phase's positions put back in their places in the input.
extension DirectConvolution {
    /// Calls `body` with each phase (a, b) of the input gradient, a and b below `phasesPerSide`, in order,
    /// and the kernel elements k = kh·KS + kw that read it: (kh, kw) = (s·u + a, s·v + b), u and v
    /// counting down, so that their taps (`gradientTap`) count up, and at stride 1 (one phase) they are
    /// the kernel flipped, KS² − 1 down to 0. (On the stack: a training step allocates nothing.)
    static func forEachGradientPhase(of geometry: ConvolutionGeometry,
                                     _ body: (_ a: Int, _ b: Int, _ elements: UnsafeBufferPointer<Int>) -> Void) {
        let KS = geometry.kernelSize, s = geometry.stride, phases = min(KS, s)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: KS * KS) { buffer in
            for a in 0..<phases {
                for b in 0..<phases {
                    var count = 0
                    for kh in stride(from: (KS - 1 - a) / s * s + a, through: a, by: -s) {
                        for kw in stride(from: (KS - 1 - b) / s * s + b, through: b, by: -s) {
                            buffer[count] = kh * KS + kw
                            count += 1
                        }
                    }
                    body(a, b, UnsafeBufferPointer(rebasing: buffer[0..<count]))
                }
            }
        }
    }

    /// Where the input gradient's correlation reads kernel element k = kh·KS + kw in dOutput's padded
    /// planes, relative to the position it computes: output (i − u, j − v) for (u, v) = (kh / s, kw / s),
    /// which dOutput's padding by R puts R − u rows and R − v columns on. At stride 1, R = KS − 1:
    /// the forward's tap of the flipped element.
    func gradientTap(_ k: Int) -> Int {
        let KS = geometry.kernelSize, s = geometry.stride, R = (KS - 1) / s
        return (R - k / KS / s) * rowStride + R - k % KS / s
    }

    /// Floats of scratch the input gradient's correlations write (`inputGradient`): one phase's, or at
    /// stride 2 the two phases of a phase row, which are interleaved into the input's rows.
    var inputGradientScratchFloats: Int {
        geometry.inChannels * gradientLength * (interleavesPhases ? 2 : 1)
    }

    /// dInput of images `images` (N, C, H, W): dOutput's padded planes correlated with the packed
    /// weights (`pack(forInputGradient: true)`) phase by phase into `scratch`, each phase's positions
    /// then copied to their places in dInput; the input's positions no phase holds (those no output
    /// reads) set to zero.
    func inputGradient(padded: UnsafePointer<Float>, packed: UnsafePointer<Float>,
                       scratch: UnsafeMutablePointer<Float>, images: Range<Int>,
                       into dInput: UnsafeMutablePointer<Float>, kernel: DirectConvolutionKernel = .fastest) {
        let C = geometry.inChannels, OC = geometry.outChannels, planeFloats = height * width
        if !phasesCoverTheInput {
            (dInput + images.lowerBound * C * planeFloats).update(repeating: 0, count: images.count * C * planeFloats)
        }
        let interleaves = interleavesPhases
        var weights = packed
        Self.forEachGradientPhase(of: geometry) { a, b, elements in
            let flat = scratch + (interleaves ? b * C * gradientLength : 0)
            withUnsafeTemporaryAllocation(of: Int.self, capacity: elements.count) { taps in
                for (t, k) in elements.enumerated() { taps[t] = gradientTap(k) }
                kernel.correlate(padded, OC, gradientPlaneStride, taps.baseAddress!, elements.count, weights, C, flat,
                                 gradientLength)
            }
            weights += Self.blockedRows(C) * OC * elements.count
            if geometry.stride == 1 {
                storeInputPositions(flat, images: images, into: dInput)
            } else if !interleaves {
                scatterPhase(a, b, flat, images: images, into: dInput)
            } else if b == phasesPerSide - 1 {
                interleavePhaseRow(a, scratch, images: images, into: dInput)
            }
        }
    }

    /// Stride 1: the correlation computed the input's positions themselves (dOutput padded by P').
    private func storeInputPositions(_ flat: UnsafePointer<Float>, images: Range<Int>,
                                     into dInput: UnsafeMutablePointer<Float>) {
        let C = geometry.inChannels, copy = PlaneCopyKernel.fastest
        for (local, n) in images.enumerated() {
            for c in 0..<C {
                copy.copy(flat + c * gradientLength + offset(image: local, row: 0), rows: height, columns: width,
                          sourceRowStride: rowStride, columnStep: 1, into: dInput + (n * C + c) * height * width,
                          targetRowStride: width, affine: nil)
            }
        }
    }

    /// Whether a stride-2 layer's phases are merged into the input's rows two at a time
    /// (`interleavePhaseRow`): where each phase the layer has holds all of the input's columns of its
    /// parity, none cut short for lying past what the outputs read (true of the ResNet's 3 × 3 and 1 × 1
    /// stride-2 layers; a 2 × 2 one on an odd width is cut short, and scattered).
    private var interleavesPhases: Bool {
        guard geometry.stride == 2 else { return false }
        let P = geometry.padding
        // phase b holds the input columns x of parity (b − P) mod 2: ⌈W / 2⌉ of them if even, ⌊W / 2⌋ if odd
        return (0..<phasesPerSide).allSatisfy { b in
            phaseColumns(b).count == ((b - P) & 1 == 0 ? (width + 1) / 2 : width / 2)
        }
    }

    /// Stride 2: phase row a's two phases, at `scratch` and C·gradientLength floats on, into the input
    /// rows 2i + a − P of its rows i. Input column x is padded column x + P: phase (x + P) mod 2, column
    /// (x + P) / 2, so the even columns come from phase P mod 2 starting at column P / 2, the odd ones
    /// from the other phase starting at (P + 1) / 2; a phase the layer lacks (1×1: one phase) reads as zeros.
    private func interleavePhaseRow(_ a: Int, _ scratch: UnsafePointer<Float>, images: Range<Int>,
                                    into dInput: UnsafeMutablePointer<Float>) {
        let C = geometry.inChannels, P = geometry.padding, rows = phaseRows(a), copy = PlaneCopyKernel.fastest
        guard !rows.isEmpty else { return }
        // phase b of image `local`, channel c, from its first row and `column` on
        func phase(_ b: Int, column: Int, image local: Int, channel c: Int) -> UnsafePointer<Float>? {
            guard b < phasesPerSide else { return nil }
            return scratch + (b * C + c) * gradientLength + local * imageStride + rows.lowerBound * rowStride + column
        }
        let firstRow = 2 * rows.lowerBound + a - P
        for (local, n) in images.enumerated() {
            for c in 0..<C {
                copy.interleave(even: phase(P % 2, column: P / 2, image: local, channel: c),
                                odd: phase((P + 1) % 2, column: (P + 1) / 2, image: local, channel: c),
                                rows: rows.count, columns: width, sourceRowStride: rowStride,
                                into: dInput + ((n * C + c) * height + firstRow) * width, targetRowStride: 2 * width)
            }
        }
    }

    /// Any other stride: phase (a, b)'s position (i, j) is the input's (s·i + a − P, s·j + b − P), one
    /// float at a time.
    private func scatterPhase(_ a: Int, _ b: Int, _ flat: UnsafePointer<Float>, images: Range<Int>,
                              into dInput: UnsafeMutablePointer<Float>) {
        let C = geometry.inChannels, s = geometry.stride, P = geometry.padding
        let rows = phaseRows(a), columns = phaseColumns(b)
        guard !rows.isEmpty && !columns.isEmpty else { return }
        let first = (s * rows.lowerBound + a - P) * width + s * columns.lowerBound + b - P
        for (local, n) in images.enumerated() {
            for c in 0..<C {
                let source = flat + c * gradientLength + local * imageStride + rows.lowerBound * rowStride
                    + columns.lowerBound
                let target = dInput + (n * C + c) * height * width + first
                for i in 0..<rows.count {
                    for j in 0..<columns.count { target[i * s * width + j * s] = source[i * rowStride + j] }
                }
            }
        }
    }

    /// Whether every input position lies in a phase's computed positions (at stride 1 always): where
    /// not, the input gradient is zeroed first (a 1×1 stride-2 layer reads one phase of four).
    private var phasesCoverTheInput: Bool {
        let s = geometry.stride
        guard s > 1 else { return true }
        guard phasesPerSide == s else { return false }
        // phase a holds the input rows s·i + a − P of its rows i: all of them, when the counts add up
        return (0..<s).reduce(0) { $0 + phaseRows($1).count } == height
            && (0..<s).reduce(0) { $0 + phaseColumns($1).count } == width
    }
}
