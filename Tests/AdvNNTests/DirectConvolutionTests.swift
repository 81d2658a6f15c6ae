import AdvNN
import CKernels
import Testing

/// The direct convolution (no unrolling) against the unrolled one on the same parameters, and the
/// AVX2 and AVX-512 kernels against their portable C twins.
@Suite struct DirectConvolutionTests {
    /// (in channels, out channels, kernel, padding, height, width, bias): output channels that are not
    /// a multiple of the kernels' block of four, 5×5 kernels (kernel columns in blocks of three and two),
    /// padding 0 to 2, planes whose flat length is and is not a multiple of 16, and a single input
    /// channel; a 1×1 kernel (dOutput unpadded) and a 3×3 kernel padded by 2 (the output wider than the
    /// input) stress the shared padding's edges. Strided layers split their input into phase planes,
    /// and their input gradient is computed phase by phase: 3×3 and 1×1 at stride 2 (the ResNet's
    /// 28×28 → 14×14 and 14×14 → 7×7; the 1×1 reads one phase of four, and an odd width leaves its
    /// last column to the even phase), a 5×5 kernel (two phase rows of R = 2), a 2×2 kernel at stride 2
    /// on 9×9 (the last row and column no output reads: the phases are cut short, and the gradient
    /// goes position by position) and stride 3. The backward runs direct whatever the patch.
    @Test(arguments: [(3, 5, 3, 1, 9, 8, true, 1), (8, 8, 3, 1, 7, 7, false, 1), (2, 3, 5, 2, 9, 14, true, 1),
                      (4, 4, 3, 0, 6, 10, true, 1), (16, 6, 3, 1, 14, 14, false, 1), (1, 4, 1, 0, 5, 5, true, 1),
                      (2, 3, 3, 2, 6, 7, true, 1),
                      (1, 6, 5, 2, 12, 12, false, 1),   // one input channel: the input gradient's single-row kernel
                      (16, 32, 3, 1, 28, 28, false, 2), (32, 64, 3, 1, 14, 14, false, 2),
                      (32, 64, 1, 0, 14, 14, false, 2),
                      (4, 3, 1, 0, 7, 9, true, 2), (3, 5, 5, 2, 11, 10, true, 2), (3, 4, 2, 0, 9, 9, true, 2),
                      (2, 3, 3, 1, 10, 11, true, 3)])
    func matchesTheUnrolledConvolution(inChannels: Int, outChannels: Int, kernel: Int, padding: Int, height: Int,
                                       width: Int, hasBias: Bool, stride: Int) {
        var rng = RandomStream(seed: 31)
        let unrolled = Conv2D(inChannels: inChannels, outChannels: outChannels, kernelSize: kernel, stride: stride,
                              padding: padding, hasBias: hasBias, rng: &rng)
        unrolled.directBackward = true   // the replica the comparison makes runs direct, backward included
        let input = Tensor(zeros: Shape(3, inChannels, height, width))
        GradientCheck.fill(input, rng: &rng)
        ConvolutionComparison.expectAgreement(unrolled, algorithm: .direct, input: input, tolerance: 1e-5, rng: &rng)
    }

    /// The default backward of a strided 32-channel 3×3 layer and of a 1×1 one: the input gradient
    /// direct, the weight gradient unrolled (each gradient by its preferred path), twice over (the
    /// weight gradient adds to what is there), against the unrolled convolution.
    @Test(arguments: [(32, 64, 3, 1, 14), (16, 32, 1, 0, 14)])
    func mixedBackwardMatchesTheUnrolledConvolution(shape: (Int, Int, Int, Int, Int)) {
        let (inChannels, outChannels, kernel, padding, side) = shape
        var rng = RandomStream(seed: 36)
        let unrolled = Conv2D(inChannels: inChannels, outChannels: outChannels, kernelSize: kernel, stride: 2,
                              padding: padding, rng: &rng)
        #expect(ConvolutionAlgorithm.prefersDirectBackward(for: unrolled.geometry, .input))
        #expect(!ConvolutionAlgorithm.prefersDirectBackward(for: unrolled.geometry, .weights))
        let input = Tensor(zeros: Shape(3, inChannels, side, side))
        GradientCheck.fill(input, rng: &rng)
        ConvolutionComparison.expectAgreement(unrolled, algorithm: .direct, input: input, tolerance: 1e-5, rng: &rng)
    }

    /// A strided layer's input gradient is zero at the input positions no output reads (a 1×1 stride-2
    /// layer's odd rows and columns, a 2×2 one's last row and column on 9×9), also where the layer's
    /// gradient buffer held other values: here a larger input's gradient, computed just before.
    @Test(arguments: [(1, 0), (2, 0)])
    func stridedInputGradientIsZeroWhereNoOutputReads(kernel: Int, padding: Int) {
        var rng = RandomStream(seed: 35)
        let direct = Conv2D(inChannels: 3, outChannels: 4, kernelSize: kernel, stride: 2, padding: padding, rng: &rng)
        direct.algorithm = .direct
        direct.directBackward = true
        let unrolled = direct.replica()
        unrolled.algorithm = .unrolled
        for side in [12, 9] {
            let input = Tensor(zeros: Shape(2, 3, side, side))
            GradientCheck.fill(input, rng: &rng)
            let dOutput = Tensor(zeros: direct.outputShape(for: input.shape))
            GradientCheck.fill(dOutput, rng: &rng)
            let gradients = [direct, unrolled].map { layer in
                _ = layer.forward(input)
                return layer.backward(dOutput, request: .inputOnly)!.scalars
            }
            ConvolutionComparison.expectClose(gradients[0], gradients[1], tolerance: 1e-5,
                                              "input gradient, \(side)×\(side)")
        }
    }

    /// (channels, output channels, kernel, padded width, output height): the ResNet's first stage, odd
    /// counts, a 5×5 kernel, a single output channel, and 112 positions (AVX-512's blocks of 64, 32 and
    /// 16 positions all run).
    static let kernelShapes = [(16, 16, 3, 30, 28), (5, 7, 3, 9, 7), (3, 6, 5, 18, 14), (8, 1, 5, 32, 28),
                               (4, 5, 3, 16, 7)]

    /// The vector kernels compute the portable twins' sums (in another order, with fused multiply–adds),
    /// where this CPU has their instructions (AVX-512: the Intel Xeons advd is measured on).
    @Test(.enabled(if: DirectConvolutionKernel.avx2.isAvailable, "this CPU has no AVX2 and FMA"),
          arguments: kernelShapes)
    func avx2KernelsMatchTheirPortableTwins(shape: (Int, Int, Int, Int, Int)) {
        compareWithTwins(.avx2, shape: shape)
    }

    @Test(.enabled(if: DirectConvolutionKernel.avx512.isAvailable, "this CPU has no AVX-512"),
          arguments: kernelShapes)
    func avx512KernelsMatchTheirPortableTwins(shape: (Int, Int, Int, Int, Int)) {
        compareWithTwins(.avx512, shape: shape)
    }

    /// Each output's sum runs over (channel, kernel row, kernel column) in one order with fused
    /// multiply–adds, whatever the vector width and block shape: the AVX2 and AVX-512 forward kernels give
    /// the same bits, so a model's forward does not depend on which of the two a CPU runs.
    @Test(.enabled(if: DirectConvolutionKernel.avx2.isAvailable && DirectConvolutionKernel.avx512.isAvailable,
                   "this CPU lacks AVX2 and FMA or AVX-512"),
          arguments: kernelShapes)
    func avx2AndAvx512ForwardKernelsAgreeBitForBit(shape: (Int, Int, Int, Int, Int)) {
        let (channels, outChannels, kernelSize, paddedWidth, outputHeight) = shape
        var rng = RandomStream(seed: 34)
        let planeStride = (outputHeight + kernelSize - 1) * paddedWidth
        let length = (outputHeight * paddedWidth + 15) / 16 * 16
        let taps = (0..<kernelSize * kernelSize).map { $0 / kernelSize * paddedWidth + $0 % kernelSize }
        let input = Tensor(zeros: Shape(adv_direct_input_floats(channels, planeStride, taps.max()!, length)))
        let weights = Tensor(zeros: Shape(outChannels, channels, kernelSize, kernelSize))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.fill(weights, rng: &rng)
        let packed = Tensor(zeros: Shape((outChannels + 3) / 4 * 4 * channels * kernelSize * kernelSize))
        adv_direct_pack_weights(weights.data, outChannels, channels, kernelSize, Array(0..<taps.count), taps.count, 0,
                                packed.data)
        let avx2 = Tensor(zeros: Shape(outChannels, length)), avx512 = Tensor(zeros: Shape(outChannels, length))
        DirectConvolutionKernel.avx2.correlate(input.data, channels, planeStride, taps, taps.count, packed.data,
                                               outChannels, avx2.data, length)
        DirectConvolutionKernel.avx512.correlate(input.data, channels, planeStride, taps, taps.count, packed.data,
                                                 outChannels, avx512.data, length)
        #expect(avx2.scalars == avx512.scalars)
    }

    /// The correlation over a few taps, as a strided layer's input gradient runs it phase by phase (the
    /// 3 × 3 stride-2 kernel's phases: 4, 2 and 1 taps, each count its own compiled block; 3 the generic
    /// one), into 1 and 6 output channels: each vector kernel the CPU runs against its portable twin.
    @Test(arguments: [4, 2, 1, 3], [1, 6])
    func phaseCorrelationsMatchTheirPortableTwin(tapCount: Int, outChannels: Int) {
        var rng = RandomStream(seed: 37)
        let channels = 5, rowStride = 15, planeStride = 15 * rowStride, length = 14 * rowStride / 16 * 16 + 16
        let taps = [rowStride + 1, rowStride, 1, 0].prefix(tapCount).map { $0 }
        let input = Tensor(zeros: Shape(adv_direct_input_floats(channels, planeStride, taps.max()!, length)))
        let weights = Tensor(zeros: Shape(outChannels, channels, 3, 3))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.fill(weights, rng: &rng)
        let elements = [8, 6, 2, 0].prefix(tapCount).map { $0 }   // the phase (0, 0) of a 3 × 3 kernel at stride 2
        let packed = Tensor(zeros: Shape((outChannels + 3) / 4 * 4 * channels * tapCount))
        adv_direct_pack_weights(weights.data, outChannels, channels, 3, elements, tapCount, 0, packed.data)
        let twin = Tensor(zeros: Shape(outChannels, length))
        DirectConvolutionKernel.portable.correlate(input.data, channels, planeStride, taps, tapCount, packed.data,
                                                   outChannels, twin.data, length)
        for kernel in [DirectConvolutionKernel.avx512, .avx2] where kernel.isAvailable {
            let fast = Tensor(zeros: Shape(outChannels, length))
            kernel.correlate(input.data, channels, planeStride, taps, tapCount, packed.data, outChannels, fast.data,
                             length)
            ConvolutionComparison.expectClose(fast.scalars, twin.scalars, tolerance: 1e-5,
                                              "\(kernel), \(tapCount) taps")
        }
    }

    private func compareWithTwins(_ kernel: DirectConvolutionKernel, shape: (Int, Int, Int, Int, Int)) {
        let (channels, outChannels, kernelSize, paddedWidth, outputHeight) = shape
        var rng = RandomStream(seed: 33)
        let planeStride = (outputHeight + kernelSize - 1) * paddedWidth
        let length = (outputHeight * paddedWidth + 15) / 16 * 16
        let taps = (0..<kernelSize * kernelSize).map { $0 / kernelSize * paddedWidth + $0 % kernelSize }
        let inputCount = adv_direct_input_floats(channels, planeStride, taps.max()!, length)
        let input = Tensor(zeros: Shape(inputCount))
        let weights = Tensor(zeros: Shape(outChannels, channels, kernelSize, kernelSize))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.fill(weights, rng: &rng)
        let blocked = (outChannels + 3) / 4 * 4
        let packed = Tensor(zeros: Shape(blocked * channels * kernelSize * kernelSize))
        adv_direct_pack_weights(weights.data, outChannels, channels, kernelSize, Array(0..<taps.count), taps.count, 0,
                                packed.data)
        let fast = Tensor(zeros: Shape(outChannels, length)), twin = Tensor(zeros: Shape(outChannels, length))
        kernel.correlate(input.data, channels, planeStride, taps, taps.count, packed.data, outChannels,
                         fast.data, length)
        DirectConvolutionKernel.portable.correlate(input.data, channels, planeStride, taps, taps.count,
                                                   packed.data, outChannels, twin.data, length)
        ConvolutionComparison.expectClose(fast.scalars, twin.scalars, tolerance: 1e-5, "output")
        // the weight gradient: rows a little more than `length` apart (as in the padded dOutput the layer
        // passes), rows past the output channels zero, as the kernels require
        let gradientStride = length + 24
        let gradient = Tensor(zeros: Shape(blocked, gradientStride))
        for row in 0..<outChannels {
            for q in 0..<length { gradient[row * gradientStride + q] = rng.nextFloat(in: -1, 1) }
        }
        let fastW = Tensor(zeros: weights.shape), twinW = Tensor(zeros: weights.shape)
        fastW.fill(0.5)
        twinW.fill(0.5)   // both add to what is there
        kernel.weightGradient(input.data, channels, planeStride, taps, kernelSize, gradient.data, gradientStride,
                              outChannels, length, fastW.data)
        DirectConvolutionKernel.portable.weightGradient(input.data, channels, planeStride, taps, kernelSize,
                                                        gradient.data, gradientStride, outChannels, length,
                                                        twinW.data)
        ConvolutionComparison.expectClose(fastW.scalars, twinW.scalars, tolerance: 1e-5, "weight gradient")
    }
}
