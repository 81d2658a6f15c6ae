import AdvNN
import CKernels
import Testing

/// The direct forward on image cells (batches of 14 or more, patches of 64 or more) against the flat
/// layout (one image alone), bit for bit, and the cell kernels against their portable twins.
@Suite struct ImageCellConvolutionTests {
    /// (in channels, out channels, kernel, padding, height, width, bias, stride): the ResNet's layers
    /// (3×3 on 28×28 and 7×7, the strided 3×3, and the 1×1 shortcut, whose patch of 64 is the smallest
    /// on cells), output channels not a multiple of four, a 5×5 kernel padded by 2, planes wider than a
    /// vector (17 and 33 columns), and stride 3.
    static let layers = [(16, 16, 3, 1, 28, 28, false, 1), (64, 64, 3, 1, 7, 7, false, 1),
                         (16, 32, 3, 1, 28, 28, false, 2), (64, 32, 1, 0, 14, 14, false, 2),
                         (8, 5, 3, 1, 9, 17, true, 1), (3, 6, 5, 2, 12, 33, true, 1), (8, 3, 3, 1, 10, 11, true, 3)]

    /// Batches of 16 (one full group) and 30 (a second group of 14 images, two lanes empty).
    @Test(arguments: layers, [16, 30])
    func eachImageGetsItsFlatLayoutBits(layer: (Int, Int, Int, Int, Int, Int, Bool, Int), batch: Int) {
        let (inChannels, outChannels, kernel, padding, height, width, hasBias, stride) = layer
        var rng = RandomStream(seed: 61)
        let conv = Conv2D(inChannels: inChannels, outChannels: outChannels, kernelSize: kernel, stride: stride,
                          padding: padding, hasBias: hasBias, rng: &rng)
        conv.algorithm = .direct
        conv.isTraining = false
        #expect(conv.forwardRunsOnImageCells(images: batch) && !conv.forwardRunsOnImageCells(images: 1))
        let input = Tensor(zeros: Shape(batch, inChannels, height, width))
        GradientCheck.fill(input, rng: &rng)
        let residual = Tensor(zeros: conv.outputShape(for: input.shape))
        GradientCheck.fill(residual, rng: &rng)
        // an evaluation-mode BN → ReLU with some channels' scale negative, read as the input is padded
        let norm = BatchNorm(channels: inChannels, fusesReLU: true)
        GradientCheck.fill(norm.weight.value, rng: &rng)
        GradientCheck.fill(norm.bias.value, rng: &rng)
        GradientCheck.fill(norm.runningMean, rng: &rng)
        norm.runningVariance.fill(0.75)
        norm.isTraining = false
        let activation = norm.deferredForward(input)
        let calls: [(Tensor, Tensor?) -> Tensor] = [
            { x, _ in conv.forward(x) },
            { x, r in conv.forward(x, adding: r!) },
            { x, r in conv.forward(x, after: activation, adding: r) },
        ]
        for (index, call) in calls.enumerated() {
            let batchOutput = call(input, residual).scalars.map(\.bitPattern)
            let perImage = batchOutput.count / batch
            for n in 0..<batch {
                let alone = call(input.items(n..<(n + 1)).copy(), residual.items(n..<(n + 1)).copy())
                #expect(Array(batchOutput[(n * perImage)..<((n + 1) * perImage)]) == alone.scalars.map(\.bitPattern),
                        "call \(index), image \(n)")
            }
        }
    }
}

/// The image-cell copies and kernel: each vector version this CPU runs against its portable twin.
@Suite struct ImageCellKernelTests {
    /// (images, height, width, padding): a full group of 16 and a partial one (the lanes past it
    /// zero), rows of 7 and 14 (less than a vector), 16, 17 and 28 (one vector, one more, two), no padding.
    static let planes = [(16, 7, 7, 1), (13, 14, 14, 1), (16, 3, 16, 2), (5, 4, 17, 1), (16, 5, 28, 0), (9, 2, 33, 1)]

    static func pad(_ kernel: PlaneCopyKernel, images: Int, height: Int, width: Int, padding: Int,
                    affine: [Float]?) -> [UInt32] {
        let imageStride = height * width + 3
        var rng = RandomStream(seed: 62)
        var source = (0..<(images * imageStride)).map { _ in rng.nextFloat(in: -2, 2) }
        source[0] = -0.0
        source[width + 1] = .nan
        let floats = (height + 2 * padding) * (width + 2 * padding) * Int(ADV_CELL_IMAGES)
        var target = [Float](repeating: 7, count: floats + 4)   // the sentinel past the plane must stay
        source.withUnsafeBufferPointer { s in
            target.withUnsafeMutableBufferPointer { t in
                (affine ?? []).withUnsafeBufferPointer { a in
                    kernel.padCells(s.baseAddress!, images: images, imageStride: imageStride, height: height,
                                    width: width, padding: padding, rows: 0..<(height + 2 * padding), into: t.baseAddress!,
                                    affine: affine == nil ? nil : a.baseAddress!)
                }
            }
        }
        return target.map(\.bitPattern)
    }

    @Test(arguments: planes, [nil, [1.5, -0.25]] as [[Float]?])
    func padMatchesThePortableTwin(plane: (Int, Int, Int, Int), affine: [Float]?) {
        let (images, height, width, padding) = plane
        let twin = Self.pad(.portable, images: images, height: height, width: width, padding: padding, affine: affine)
        // the twin against the definition: image 1's first value, past the padding, and an empty lane
        let paddedWidth = width + 2 * padding, cell = Int(ADV_CELL_IMAGES)
        let first = (padding * paddedWidth + padding) * cell
        #expect(twin.suffix(4).allSatisfy { $0 == Float(7).bitPattern })
        if padding > 0 { #expect(twin[0] == 0) }
        if images < cell { #expect(twin[first + images] == 0) }
        for kernel in [PlaneCopyKernel.avx512, .avx2] where kernel.isAvailable {
            #expect(Self.pad(kernel, images: images, height: height, width: width, padding: padding, affine: affine)
                    == twin, "\(kernel)")
        }
    }

    static func store(_ kernel: PlaneCopyKernel, images: Int, count: Int, addend hasAddend: Bool,
                      bias hasBias: Bool) -> [UInt32] {
        let imageStride = count + 5, cell = Int(ADV_CELL_IMAGES)
        var rng = RandomStream(seed: 63)
        var source = (0..<(count * cell)).map { _ in rng.nextFloat(in: -2, 2) }
        source[1] = -0.0
        let addend = (0..<(images * imageStride)).map { _ in rng.nextFloat(in: -2, 2) }
        var target = [Float](repeating: 7, count: images * imageStride)
        let bias: [Float] = [0.375]
        source.withUnsafeBufferPointer { s in
            addend.withUnsafeBufferPointer { a in
                bias.withUnsafeBufferPointer { b in
                    target.withUnsafeMutableBufferPointer { t in
                        kernel.storeCells(s.baseAddress!, count: count, images: images,
                                          addend: hasAddend ? a.baseAddress! : nil, bias: hasBias ? b.baseAddress! : nil,
                                          into: t.baseAddress!, imageStride: imageStride)
                    }
                }
            }
        }
        return target.map(\.bitPattern)
    }

    /// (images, cells): 49 and 196 cells (7×7, 14×14: partial blocks of 16 and 8), 16, and a partial group.
    @Test(arguments: [(16, 49), (16, 196), (12, 16), (3, 21)], [(false, false), (true, false), (false, true)])
    func storeMatchesThePortableTwin(shape: (Int, Int), sum: (Bool, Bool)) {
        let (images, count) = shape
        let twin = Self.store(.portable, images: images, count: count, addend: sum.0, bias: sum.1)
        // −0 copied unchanged without a sum; the gaps between the images' planes untouched
        if !sum.0 && !sum.1 { #expect(twin[1 * (count + 5)] == (-0.0 as Float).bitPattern) }
        #expect(twin[count] == Float(7).bitPattern)
        for kernel in [PlaneCopyKernel.avx512, .avx2] where kernel.isAvailable {
            #expect(Self.store(kernel, images: images, count: count, addend: sum.0, bias: sum.1) == twin, "\(kernel)")
        }
    }

    /// The kernel over (channels, output channels, kernel, cells): the ResNet's first stage, odd counts
    /// with a 5×5 kernel, and one cell (AVX-512's single-cell block alone).
    @Test(arguments: [(16, 16, 3, 37), (3, 7, 5, 11), (5, 4, 1, 1)])
    func correlateMatchesItsTwinsAndBothWidthsAgree(shape: (Int, Int, Int, Int)) {
        let (channels, outChannels, kernelSize, count) = shape
        let cell = Int(ADV_CELL_IMAGES), paddedWidth = count + kernelSize
        let planeFloats = (kernelSize + 1) * paddedWidth * cell
        var rng = RandomStream(seed: 64)
        let input = Tensor(zeros: Shape(channels * planeFloats))
        let weights = Tensor(zeros: Shape(outChannels, channels, kernelSize, kernelSize))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.fill(weights, rng: &rng)
        let packed = Tensor(zeros: Shape((outChannels + 3) / 4 * 4 * channels * kernelSize * kernelSize))
        let taps = (0..<kernelSize * kernelSize).map { ($0 / kernelSize * paddedWidth + $0 % kernelSize) * cell }
        adv_direct_pack_weights(weights.data, outChannels, channels, kernelSize, Array(0..<taps.count), taps.count, 0,
                                packed.data)
        let positions = (0..<count).map { $0 * cell }
        func run(_ kernel: DirectConvolutionKernel) -> [Float] {
            let output = Tensor(zeros: Shape(outChannels, count * cell))
            kernel.correlateCells(input.data, channels, planeFloats, taps, kernelSize, packed.data, outChannels,
                                  positions, count, output.data, count * cell)
            return output.scalars
        }
        let twin = run(.portable)
        // the twin against the definition at output channel 1, cell 0, image 3
        var expected: Float = 0
        for c in 0..<channels {
            for k in 0..<kernelSize * kernelSize {
                expected += weights[((1 % outChannels) * channels + c) * kernelSize * kernelSize + k]
                    * input[c * planeFloats + taps[k] + 3]
            }
        }
        #expect(abs(twin[(1 % outChannels) * count * cell + 3] - expected) <= 1e-5 * max(abs(expected), 1))
        let available = [DirectConvolutionKernel.avx512, .avx2].filter(\.isAvailable)
        for kernel in available {
            ConvolutionComparison.expectClose(run(kernel), twin, tolerance: 1e-5, "\(kernel)")
        }
        if available.count == 2 { #expect(run(.avx512).map(\.bitPattern) == run(.avx2).map(\.bitPattern)) }
    }
}
