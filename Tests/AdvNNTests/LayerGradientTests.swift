import AdvNN
import Testing

/// Every layer's backward pass against finite differences, with respect to input and parameters.
@Suite struct LayerGradientTests {
    @Test func linear() {
        var rng = RandomStream(seed: 1)
        let layer = Linear(inFeatures: 7, outFeatures: 5, rng: &rng)
        let input = Tensor(zeros: Shape(3, 7))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.checkLayer(layer, input: input, rng: &rng)
    }

    @Test func reluAwayFromTheKink() {
        var rng = RandomStream(seed: 2)
        let input = Tensor(zeros: Shape(4, 6))
        GradientCheck.fill(input, rng: &rng, gap: 0.1)
        GradientCheck.checkLayer(ReLU(), input: input, rng: &rng)
    }

    /// SiLU is smooth, so the check needs no gap; 4·6·3 = 72 elements also run the padded last vector.
    @Test func silu() {
        var rng = RandomStream(seed: 4)
        let input = Tensor(zeros: Shape(4, 6, 3))
        GradientCheck.fill(input, rng: &rng)
        for i in 0..<input.count { input[i] *= 4 }   // well into both tails of the sigmoid
        GradientCheck.checkLayer(SiLU(), input: input, rng: &rng)
    }

    /// Every algorithm that applies, the direct one with its backward direct too (strided layers phase
    /// by phase). On the unrolled path two channels exercise the backward that unrolls by columns
    /// (im2col), twelve — a run of 12·3 or 12·5 floats — the one that unrolls channels last (im2row).
    @Test(arguments: [(1, 0, 3, 2), (1, 1, 3, 2), (2, 1, 3, 2), (2, 2, 5, 2), (1, 2, 5, 2), (3, 0, 1, 2),
                      (1, 1, 3, 12), (2, 1, 3, 12), (1, 2, 5, 12), (2, 0, 3, 12)])
    func conv2d(stride: Int, padding: Int, kernel: Int, channels: Int) {
        for algorithm in ConvolutionAlgorithm.allCases {
            var rng = RandomStream(seed: 3)
            let layer = Conv2D(inChannels: channels, outChannels: 3, kernelSize: kernel, stride: stride, padding: padding,
                               rng: &rng)
            guard algorithm.applies(to: layer.geometry) else { continue }
            layer.algorithm = algorithm
            layer.directBackward = algorithm == .direct
            #expect(layer.geometry.unrollsChannelsLast == (channels * kernel >= 32))
            let input = Tensor(zeros: Shape(2, channels, 7, 6))
            GradientCheck.fill(input, rng: &rng)
            GradientCheck.checkLayer(layer, input: input, step: 0.25, rng: &rng)
        }
    }

    @Test func maxPool() {
        var rng = RandomStream(seed: 4)
        let input = Tensor(zeros: Shape(2, 3, 6, 6))
        GradientCheck.fillDistinct(input, rng: &rng)
        GradientCheck.checkLayer(MaxPool2D(kernelSize: 2), input: input, rng: &rng)
        let overlapping = Tensor(zeros: Shape(1, 2, 7, 7))
        GradientCheck.fillDistinct(overlapping, rng: &rng)
        GradientCheck.checkLayer(MaxPool2D(kernelSize: 3, stride: 2), input: overlapping, rng: &rng)
    }

    @Test func averagePools() {
        var rng = RandomStream(seed: 5)
        let input = Tensor(zeros: Shape(2, 3, 6, 6))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.checkLayer(AvgPool2D(kernelSize: 2), input: input, step: 0.25, rng: &rng)
        GradientCheck.checkLayer(AvgPool2D(kernelSize: 3, stride: 2), input: input, step: 0.25, rng: &rng)
        GradientCheck.checkLayer(GlobalAvgPool(), input: input, step: 0.25, rng: &rng)
    }

    @Test func flatten() {
        var rng = RandomStream(seed: 6)
        let input = Tensor(zeros: Shape(2, 3, 2, 2))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.checkLayer(Flatten(), input: input, rng: &rng)
    }

    @Test(arguments: [true, false])
    func batchNorm1d(training: Bool) {
        var rng = RandomStream(seed: 7)
        let layer = BatchNorm(channels: 4)
        GradientCheck.fill(layer.weight.value, rng: &rng)
        GradientCheck.fill(layer.bias.value, rng: &rng)
        GradientCheck.fill(layer.runningMean, rng: &rng)
        layer.isTraining = training
        let input = Tensor(zeros: Shape(5, 4))
        GradientCheck.fill(input, rng: &rng, scale: 2)
        GradientCheck.checkLayer(layer, input: input, step: 1e-2, rng: &rng)
    }

    @Test(arguments: [true, false])
    func batchNorm2d(training: Bool) {
        var rng = RandomStream(seed: 8)
        let layer = BatchNorm(channels: 3)
        GradientCheck.fill(layer.weight.value, rng: &rng)
        layer.isTraining = training
        let input = Tensor(zeros: Shape(2, 3, 3, 2))
        GradientCheck.fill(input, rng: &rng, scale: 2)
        GradientCheck.checkLayer(layer, input: input, step: 1e-2, rng: &rng)
    }

    /// A BatchNorm with its ReLU fused is BatchNorm then ReLU, bit for bit: output, input gradient and
    /// parameter gradients, with batch and with running statistics, on planes that are not a whole
    /// number of vectors (5 × 7) and with outputs exactly at the kink.
    @Test(arguments: [true, false])
    func batchNormWithFusedReLUIsBatchNormThenReLU(training: Bool) {
        var rng = RandomStream(seed: 32)
        let input = Tensor(zeros: Shape(3, 4, 5, 7)), dOutput = Tensor(zeros: Shape(3, 4, 5, 7))
        GradientCheck.fill(input, rng: &rng, scale: 2)
        GradientCheck.fill(dOutput, rng: &rng)
        let gamma = Tensor(zeros: Shape(4)), beta = Tensor(zeros: Shape(4))
        GradientCheck.fill(gamma, rng: &rng)
        GradientCheck.fill(beta, rng: &rng)
        func run(_ norm: BatchNorm, then relu: ReLU?) -> [[Float]] {
            norm.weight.value.assign(gamma)
            norm.bias.value.assign(beta)
            norm.runningMean.fill(0.1)
            norm.runningVariance.fill(0.8)
            norm.isTraining = training
            let normalised = norm.forward(input)
            let output = relu?.forward(normalised) ?? normalised
            let dNormalised = relu?.backward(dOutput, request: .inputOnly) ?? dOutput
            let dInput = norm.backward(dNormalised, request: .training)!
            return [output.scalars, dInput.scalars, norm.weight.gradient.scalars, norm.bias.gradient.scalars,
                    norm.runningMean.scalars, norm.runningVariance.scalars]
        }
        let separate = run(BatchNorm(channels: 4), then: ReLU())
        let fused = run(BatchNorm(channels: 4, fusesReLU: true), then: nil)
        #expect(fused == separate)
        #expect(separate[0].contains(0) && separate[0].contains { $0 > 0 })
    }

    @Test(arguments: [(4, 4, 1, Activation.relu), (3, 5, 2, .relu), (4, 4, 1, .silu), (3, 5, 2, .silu)])
    func preActivationBlock(inChannels: Int, outChannels: Int, stride: Int, activation: Activation) {
        var rng = RandomStream(seed: 9)
        let block = PreActivationBlock(inChannels: inChannels, outChannels: outChannels, stride: stride,
                                       activation: activation, rng: &rng)
        block.isTraining = false   // fixed statistics: a smooth function away from the ReLU kinks
        for norm in [block.bn1, block.bn2] {
            GradientCheck.fill(norm.runningMean, rng: &rng, scale: 0.2)
            for c in 0..<norm.channels { norm.runningVariance[c] = rng.nextFloat(in: 0.5, 1.5) }
        }
        let input = Tensor(zeros: Shape(2, inChannels, 4, 4))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.checkLayer(block, input: input, step: 1e-3, tolerance: 2e-2, rng: &rng)
    }

    /// The convolution paths this CPU runs: unrolled and Winograd everywhere, direct where it has the kernels.
    static let algorithmsThisCPURuns: [ConvolutionAlgorithm] =
        ConvolutionAlgorithm.directIsAvailable ? [.direct, .unrolled, .winograd] : [.unrolled, .winograd]

    /// In evaluation mode each BN → ReLU is applied by the convolutions that read it as they copy their
    /// input into padded planes (`defersActivations`): the same bits as the BN's own pass, forward and
    /// backward, for an identity block and a projection block (its bn1 read by a stride-2 convolution and
    /// a 1×1 shortcut, split into phase planes on the direct path), on every path a convolution takes
    /// (direct, im2col, im2row), on rows of 9 floats (a vector and an overlapping one) and of 5 (scalars).
    @Test(arguments: [(16, 16, 1), (8, 16, 2)], LayerGradientTests.algorithmsThisCPURuns)
    func deferredActivationsGiveTheSameBits(shape: (inChannels: Int, outChannels: Int, stride: Int),
                                            algorithm: ConvolutionAlgorithm) {
        let (inChannels, outChannels, stride) = shape
        var rng = RandomStream(seed: 35)
        let block = PreActivationBlock(inChannels: inChannels, outChannels: outChannels, stride: stride, rng: &rng)
        block.isTraining = false
        // Winograd takes the stride-1 3×3 convolutions; the others keep their own path
        for convolution in [block.conv1, block.conv2] + (block.shortcut.map { [$0] } ?? [])
        where algorithm.applies(to: convolution.geometry) {
            convolution.algorithm = algorithm
        }
        for norm in [block.bn1, block.bn2] {
            GradientCheck.fill(norm.runningMean, rng: &rng, scale: 0.2)
            GradientCheck.fill(norm.weight.value, rng: &rng)
            GradientCheck.fill(norm.bias.value, rng: &rng, scale: 0.3)
            for c in 0..<norm.channels { norm.runningVariance[c] = rng.nextFloat(in: 0.5, 1.5) }
        }
        let input = Tensor(zeros: Shape(3, inChannels, 9, 9))
        GradientCheck.fill(input, rng: &rng)
        let dOutput = Tensor(zeros: block.outputShape(for: input.shape))
        GradientCheck.fill(dOutput, rng: &rng)
        func run(defers: Bool) -> (output: [Float], dInput: [Float], gradients: [[Float]]) {
            block.defersActivations = defers
            for (_, parameter) in block.namedParameters { parameter.gradient.zero() }
            let output = block.forward(input).scalars
            let dInput = block.backward(dOutput, request: .training)!.scalars
            return (output, dInput, block.namedParameters.map { $0.parameter.gradient.scalars })
        }
        /// How many values differ in their bits (−0 from +0 too), or all of them if the counts differ.
        func differing(_ a: [Float], _ b: [Float]) -> Int {
            a.count == b.count ? zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count : max(a.count, b.count)
        }
        let plain = run(defers: false), deferred = run(defers: true)
        #expect(differing(deferred.output, plain.output) == 0)
        #expect(differing(deferred.dInput, plain.dInput) == 0)
        #expect(differing(deferred.gradients.flatMap { $0 }, plain.gradients.flatMap { $0 }) == 0)
        #expect(plain.output.contains { $0 != 0 } && plain.gradients.allSatisfy { $0.contains { $0 != 0 } })
    }

    /// In training mode the block's BatchNorms normalise with the batch's statistics: the gradient
    /// through them (and through both paths of the sum) against finite differences too. The step is
    /// small: through the batch statistics one weight moves every value of its channel, and a step of
    /// 1e-3 already carries some across a ReLU's kink.
    @Test(arguments: [(4, 4, 1, Activation.relu), (3, 5, 2, .relu), (4, 4, 1, .silu), (3, 5, 2, .silu)])
    func preActivationBlockInTraining(inChannels: Int, outChannels: Int, stride: Int, activation: Activation) {
        var rng = RandomStream(seed: 33)
        let block = PreActivationBlock(inChannels: inChannels, outChannels: outChannels, stride: stride,
                                       activation: activation, rng: &rng)
        let input = Tensor(zeros: Shape(3, inChannels, 4, 4))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.checkLayer(block, input: input, step: 1e-4, tolerance: 2e-2, rng: &rng)
    }

    @Test func sequentialModel() {
        var rng = RandomStream(seed: 10)
        let model = Sequential([
            Conv2D(inChannels: 1, outChannels: 2, kernelSize: 3, padding: 1, rng: &rng),
            Flatten(),
            Linear(inFeatures: 2 * 5 * 5, outFeatures: 3, rng: &rng),
        ])
        let input = Tensor(zeros: Shape(2, 1, 5, 5))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.checkLayer(model, input: input, step: 0.25, rng: &rng)
    }

    /// cnn-small pools before its ReLUs; that is only valid because the two orders are the same
    /// function with the same gradient, ties and non-positive windows included, bit for bit.
    @Test func maxPoolThenReLUEqualsReLUThenMaxPool() {
        var rng = RandomStream(seed: 31)
        let input = Tensor(zeros: Shape(3, 2, 6, 10)), dOutput = Tensor(zeros: Shape(3, 2, 3, 5))
        GradientCheck.fill(input, rng: &rng)
        for i in stride(from: 0, to: input.count, by: 7) { input[i] = 0 }   // ties at the kink
        for i in stride(from: 3, to: input.count, by: 11) { input[i] = input[i - 1] }   // ties in a window
        GradientCheck.fill(dOutput, rng: &rng)
        func run(_ layers: [any Layer]) -> (output: [Float], dInput: [Float]) {
            var x = input
            for layer in layers { x = layer.forward(x) }
            var g = dOutput
            for layer in layers.reversed() { g = layer.backward(g, request: .inputOnly)! }
            return (x.scalars, g.scalars)
        }
        let poolFirst = run([MaxPool2D(kernelSize: 2), ReLU()]), reluFirst = run([ReLU(), MaxPool2D(kernelSize: 2)])
        #expect(poolFirst.output == reluFirst.output)
        #expect(poolFirst.dInput == reluFirst.dInput)
    }
}
