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

    /// Two channels exercise the backward that unrolls by columns (im2col), twelve — a run of 12·3 or
    /// 12·5 floats — the one that unrolls channels last (im2row).
    @Test(arguments: [(1, 0, 3, 2), (1, 1, 3, 2), (2, 1, 3, 2), (2, 2, 5, 2), (1, 2, 5, 2), (3, 0, 1, 2),
                      (1, 1, 3, 12), (2, 1, 3, 12), (1, 2, 5, 12), (2, 0, 3, 12)])
    func conv2d(stride: Int, padding: Int, kernel: Int, channels: Int) {
        var rng = RandomStream(seed: 3)
        let layer = Conv2D(inChannels: channels, outChannels: 3, kernelSize: kernel, stride: stride, padding: padding,
                           rng: &rng)
        #expect(layer.geometry.unrollsChannelsLast == (channels * kernel >= 32))
        let input = Tensor(zeros: Shape(2, channels, 7, 6))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.checkLayer(layer, input: input, step: 0.25, rng: &rng)
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

    @Test(arguments: [(4, 4, 1), (3, 5, 2)])
    func preActivationBlock(inChannels: Int, outChannels: Int, stride: Int) {
        var rng = RandomStream(seed: 9)
        let block = PreActivationBlock(inChannels: inChannels, outChannels: outChannels, stride: stride, rng: &rng)
        block.isTraining = false   // fixed statistics: a smooth function away from the ReLU kinks
        for norm in [block.bn1, block.bn2] {
            GradientCheck.fill(norm.runningMean, rng: &rng, scale: 0.2)
            for c in 0..<norm.channels { norm.runningVariance[c] = rng.nextFloat(in: 0.5, 1.5) }
        }
        let input = Tensor(zeros: Shape(2, inChannels, 4, 4))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.checkLayer(block, input: input, step: 1e-3, tolerance: 2e-2, rng: &rng)
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
