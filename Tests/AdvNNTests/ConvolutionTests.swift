import AdvNN
import Testing

/// Every convolution algorithm against a naive convolution (their twin), and im2col/col2im adjointness.
@Suite struct ConvolutionTests {
    /// Direct cross-correlation with zero padding: the definition, one output at a time.
    static func naiveConvolution(_ input: Tensor, _ layer: Conv2D) -> Tensor {
        let g = layer.geometry
        let outShape = layer.outputShape(for: input.shape)
        let out = Tensor(zeros: outShape)
        let N = input.shape[0], C = g.inChannels, H = input.shape[2], W = input.shape[3]
        let OC = g.outChannels, OH = outShape[2], OW = outShape[3], K = g.kernelSize
        for n in 0..<N { for oc in 0..<OC { for oh in 0..<OH { for ow in 0..<OW {
            var sum = Double(layer.bias?.value[oc] ?? 0)
            for c in 0..<C { for kh in 0..<K { for kw in 0..<K {
                let ih = oh * g.stride - g.padding + kh, iw = ow * g.stride - g.padding + kw
                guard ih >= 0, ih < H, iw >= 0, iw < W else { continue }
                sum += Double(input[((n * C + c) * H + ih) * W + iw]) * Double(layer.weight.value[((oc * C + c) * K + kh) * K + kw])
            } } }
            out[((n * OC + oc) * OH + oh) * OW + ow] = Float(sum)
        } } } }
        return out
    }

    /// Widths 8, 14 and 20 of stride-1 outputs exercise the vector row copies: a row of exactly one
    /// vector, one with an overlapping last vector, and one with a full vector before it; stride-2
    /// outputs 8, 10 and 14 wide (and 4, scalar) the even-lane copies, with the last window reading up
    /// to the padded image's last float. On the direct path the strided shapes split their input into
    /// phase planes: 2×2 of them for a 3×3 kernel, one for a 1×1 kernel, 3×3 at stride 3 (scalar
    /// copies), odd and even widths (a phase column past the input).
    @Test(arguments: [(1, 0, 3, 8), (1, 2, 5, 8), (1, 2, 5, 14), (1, 1, 3, 20), (1, 0, 3, 5), (2, 1, 3, 8),
                      (2, 1, 3, 16), (2, 1, 3, 20), (2, 0, 1, 28), (2, 0, 3, 29), (3, 1, 4, 8), (1, 0, 1, 8)],
          ConvolutionAlgorithm.allCases)
    func matchesNaiveConvolution(shape: (stride: Int, padding: Int, kernel: Int, width: Int),
                                 algorithm: ConvolutionAlgorithm) {
        let (stride, padding, kernel, width) = shape
        var rng = RandomStream(seed: 21)
        let layer = Conv2D(inChannels: 3, outChannels: 4, kernelSize: kernel, stride: stride, padding: padding, rng: &rng)
        guard algorithm.applies(to: layer.geometry) else { return }   // Winograd: stride 1, 3×3 and 5×5 only
        layer.algorithm = algorithm
        let input = Tensor(zeros: Shape(2, 3, 9, width))
        GradientCheck.fill(input, rng: &rng)
        let fast = layer.forward(input), naive = Self.naiveConvolution(input, layer)
        #expect(fast.shape == naive.shape)
        for i in 0..<fast.count { #expect(abs(fast[i] - naive[i]) < 1e-5) }
    }

    /// Outputs narrower than a vector from many channels (12 · 3 ≥ 32) unroll channels last in the
    /// forward too; 1 × 1 stride-2 windows and wide outputs keep im2col. All against the naive twin.
    @Test(arguments: [(1, 1, 3, 7, true), (2, 1, 3, 13, true), (1, 0, 3, 9, true), (2, 0, 1, 13, false),
                      (1, 1, 3, 10, false)])
    func forwardByRowsMatchesNaiveConvolution(stride: Int, padding: Int, kernel: Int, width: Int, byRows: Bool) {
        var rng = RandomStream(seed: 24)
        let layer = Conv2D(inChannels: 12, outChannels: 5, kernelSize: kernel, stride: stride, padding: padding,
                           rng: &rng)
        layer.algorithm = .unrolled
        let input = Tensor(zeros: Shape(3, 12, 8, width))
        GradientCheck.fill(input, rng: &rng)
        let fast = layer.forward(input), naive = Self.naiveConvolution(input, layer)
        #expect(layer.geometry.forwardUnrollsChannelsLast(outputWidth: fast.shape[3]) == byRows)
        #expect(fast.shape == naive.shape)
        for i in 0..<fast.count { #expect(abs(fast[i] - naive[i]) < 1e-5) }
    }

    /// A residual block's sum written with the output: conv(x) + r, bit for bit, on both algorithms, with
    /// and without a bias (without one the direct path adds the residual as it copies each row out), on
    /// rows of 10 and of 5 floats, and with chunks of several images (11 images on two threads).
    @Test(arguments: ConvolutionAlgorithm.allCases, [(true, 10), (false, 10), (false, 5)])
    func forwardAddingAResidualIsTheSum(algorithm: ConvolutionAlgorithm, case: (hasBias: Bool, width: Int)) {
        var rng = RandomStream(seed: 22)
        let layer = Conv2D(inChannels: 3, outChannels: 4, kernelSize: 3, padding: 1, hasBias: `case`.hasBias, rng: &rng)
        layer.algorithm = algorithm
        layer.compute = ComputeContext(threads: 2)
        let input = Tensor(zeros: Shape(11, 3, 9, `case`.width)), residual = Tensor(zeros: Shape(11, 4, 9, `case`.width))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.fill(residual, rng: &rng)
        let plain = layer.forward(input).scalars
        let summed = layer.forward(input, adding: residual).scalars
        #expect(summed == zip(plain, residual.scalars).map { $0 + $1 })
    }

    @Test func knownOutputOfA3x3Kernel() {
        var rng = RandomStream(seed: 1)
        let layer = Conv2D(inChannels: 1, outChannels: 1, kernelSize: 3, padding: 1, hasBias: false, rng: &rng)
        layer.weight.value.fill(1)
        let input = Tensor(shape: Shape(1, 1, 2, 2), scalars: [1, 2, 3, 4])
        // with padding 1, every 3×3 window over a 2×2 image covers all four pixels
        #expect(layer.forward(input).scalars == [10, 10, 10, 10])
    }

    @Test(arguments: [(2, 6), (1, 6), (1, 14), (1, 21)])
    func col2imIsTheAdjointOfIm2col(stride: Int, width: Int) {
        // ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩ for any x, y
        var rng = RandomStream(seed: 22)
        let geometry = ConvolutionGeometry(inChannels: 2, outChannels: 1, kernelSize: 3, stride: stride, padding: 1)
        let x = Tensor(zeros: Shape(2, 2, 7, width))
        GradientCheck.fill(x, rng: &rng)
        let outShape = geometry.outputShape(for: x.shape)
        let columns = Tensor(zeros: Shape(geometry.patchSize, 2 * outShape[2] * outShape[3]))
        geometry.im2col(x, images: 0..<2, into: columns, scratch: Tensor(zeros: Shape(0)))
        let y = Tensor(zeros: columns.shape)
        GradientCheck.fill(y, rng: &rng)
        let back = Tensor(zeros: x.shape)
        geometry.col2im(y, images: 0..<2, into: back, scratch: Tensor(zeros: Shape(0)))
        let left = GradientCheck.projection(columns, with: y), right = GradientCheck.projection(x, with: back)
        #expect(abs(left - right) < 1e-4 * max(1, abs(left)))
    }

    /// im2row holds the same entries as im2col, transposed and with each patch channels last, and
    /// row2im is its adjoint — for strides 1 and 2, with and without padding.
    @Test(arguments: [(1, 1), (1, 2), (2, 1), (2, 0)])
    func im2rowIsIm2colChannelsLastAndRow2imItsAdjoint(stride: Int, padding: Int) {
        var rng = RandomStream(seed: 25)
        let geometry = ConvolutionGeometry(inChannels: 12, outChannels: 1, kernelSize: 3, stride: stride,
                                           padding: padding)
        #expect(geometry.unrollsChannelsLast)
        let x = Tensor(zeros: Shape(3, 12, 9, 10))
        GradientCheck.fill(x, rng: &rng)
        let outShape = geometry.outputShape(for: x.shape), positions = 2 * outShape[2] * outShape[3]
        let K = geometry.patchSize
        let columns = Tensor(zeros: Shape(K, positions)), rows = Tensor(zeros: Shape(positions, K))
        geometry.im2col(x, images: 1..<3, into: columns, scratch: Tensor(zeros: Shape(0)))
        geometry.im2row(x, images: 1..<3, into: rows, scratch: Tensor(zeros: Shape(0)))
        var mismatches = 0
        for position in 0..<positions { for c in 0..<12 { for kh in 0..<3 { for kw in 0..<3 {
            let column = columns[((c * 3 + kh) * 3 + kw) * positions + position]
            let row = rows[position * K + geometry.channelsLastIndex(channel: c, row: kh, column: kw)]
            if column != row { mismatches += 1 }
        } } } }
        #expect(mismatches == 0)
        // ⟨im2row(x), y⟩ = ⟨x, row2im(y)⟩ on the images unrolled; row2im leaves the others alone
        let y = Tensor(zeros: rows.shape)
        GradientCheck.fill(y, rng: &rng)
        let back = Tensor(repeating: 7, shape: x.shape)
        geometry.row2im(y, images: 1..<3, into: back, scratch: Tensor(zeros: Shape(0)))
        let imageSize = 12 * 9 * 10
        #expect(back.scalars[0..<imageSize].allSatisfy { $0 == 7 })
        var right = 0.0
        for i in imageSize..<x.count { right += Double(x[i]) * Double(back[i]) }
        let left = GradientCheck.projection(rows, with: y)
        #expect(abs(left - right) < 1e-4 * max(1, abs(left)))
    }

    /// Input gradients alone (as attacks ask) leave the parameters' gradients untouched.
    @Test(arguments: ConvolutionAlgorithm.allCases)
    func inputGradientOnlyLeavesParameterGradientsAlone(algorithm: ConvolutionAlgorithm) {
        var rng = RandomStream(seed: 32)
        let layer = Conv2D(inChannels: 3, outChannels: 4, kernelSize: 3, padding: 1, rng: &rng)
        layer.algorithm = algorithm
        let input = Tensor(zeros: Shape(2, 3, 8, 8)), dOutput = Tensor(zeros: Shape(2, 4, 8, 8))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.fill(dOutput, rng: &rng)
        _ = layer.forward(input)
        #expect(layer.backward(dOutput, request: .inputOnly) != nil)
        #expect(layer.weight.gradient.scalars.allSatisfy { $0 == 0 })
        #expect(layer.bias!.gradient.scalars.allSatisfy { $0 == 0 })
    }

    /// The weight gradient summed over groups of images equals the direct sum over all images, and
    /// backward adds to the gradient already there rather than overwriting it.
    @Test(arguments: [(2, .unrolled), (12, .unrolled), (2, .direct), (12, .direct), (2, .winograd)]
          as [(Int, ConvolutionAlgorithm)])
    func weightGradientAccumulatesOverGroupsAndCalls(channels C: Int, algorithm: ConvolutionAlgorithm) {
        var rng = RandomStream(seed: 24)
        let layer = Conv2D(inChannels: C, outChannels: 3, kernelSize: 3, padding: 1, rng: &rng)
        layer.algorithm = algorithm   // unrolled: by columns (2 channels), channels last (12)
        let input = Tensor(zeros: Shape(10, C, 6, 6)), dOutput = Tensor(zeros: Shape(10, 3, 6, 6))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.fill(dOutput, rng: &rng)
        _ = layer.forward(input)
        _ = layer.backward(dOutput, request: .training)
        _ = layer.backward(dOutput, request: GradientRequest(input: false, parameters: true))
        // dW[oc, c, kh, kw] = Σ_n Σ_(oh, ow) dOut[n, oc, oh, ow] · x[n, c, oh + kh − 1, ow + kw − 1], twice
        for oc in 0..<3 { for c in 0..<C { for kh in 0..<3 { for kw in 0..<3 {
            var sum = 0.0
            for n in 0..<10 { for oh in 0..<6 { for ow in 0..<6 {
                let ih = oh + kh - 1, iw = ow + kw - 1
                guard ih >= 0, ih < 6, iw >= 0, iw < 6 else { continue }
                sum += Double(dOutput[((n * 3 + oc) * 6 + oh) * 6 + ow]) * Double(input[((n * C + c) * 6 + ih) * 6 + iw])
            } } }
            let analytic = Double(layer.weight.gradient[((oc * C + c) * 3 + kh) * 3 + kw])
            #expect(abs(analytic - 2 * sum) < 1e-4 * max(1, abs(sum)))
        } } } }
    }
}

@Suite struct ConvolutionThreadCountTests {
    /// The convolution spreads groups of images over the threads and sums the groups' weight gradients
    /// in a fixed order: outputs and every gradient are bit-identical for 1, 2 and 3 threads, also when
    /// the groups do not divide evenly among them (11 images). Stride 2 too: direct (3 channels), and
    /// with the input gradient direct and the weight gradient unrolled (20 channels, patch 180).
    @Test(arguments: [(3, .unrolled, 1), (12, .unrolled, 1), (3, .direct, 1), (12, .direct, 1), (3, .winograd, 1),
                      (12, .winograd, 1), (12, .unrolled, 2), (3, .direct, 2), (20, .direct, 2)]
          as [(Int, ConvolutionAlgorithm, Int)])
    func resultsDoNotDependOnTheThreadCount(channels: Int, algorithm: ConvolutionAlgorithm, stride: Int) {
        var outcomes: [[[Float]]] = []
        for threads in [1, 2, 3] {
            var rng = RandomStream(seed: 23)
            let layer = Conv2D(inChannels: channels, outChannels: 5, kernelSize: 3, stride: stride, padding: 1,
                               rng: &rng)
            layer.compute = ComputeContext(threads: threads)
            layer.algorithm = algorithm   // unrolled: by columns (3 channels), channels last (12)
            let input = Tensor(zeros: Shape(11, channels, 10, 10))
            let dOutput = Tensor(zeros: layer.outputShape(for: input.shape))
            GradientCheck.fill(input, rng: &rng)
            GradientCheck.fill(dOutput, rng: &rng)
            let output = layer.forward(input).scalars
            let dInput = layer.backward(dOutput, request: .training)!.scalars
            outcomes.append([output, dInput, layer.weight.gradient.scalars, layer.bias!.gradient.scalars])
        }
        #expect(outcomes[1] == outcomes[0])
        #expect(outcomes[2] == outcomes[0])
    }
}
