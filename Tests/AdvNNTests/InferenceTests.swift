import AdvNN
import Testing

/// `Sequential.infer`: the whole network over chunks of the batch, in evaluation mode.
@Suite struct InferenceTests {
    /// A small convolutional network whose first activation (16 × 28 × 28 floats an image) cuts a batch
    /// of 41 into three chunks, with BatchNorm running statistics that are not
    /// the identity, a strided convolution and a dense layer.
    static func network(seed: UInt64 = 41) -> Sequential {
        var rng = RandomStream(seed: seed)
        let norm = BatchNorm(channels: 16, fusesReLU: true)
        GradientCheck.fill(norm.runningMean, rng: &rng, scale: 0.2)
        GradientCheck.fill(norm.weight.value, rng: &rng)
        for c in 0..<16 { norm.runningVariance[c] = rng.nextFloat(in: 0.5, 1.5) }
        let model = Sequential([
            Conv2D(inChannels: 1, outChannels: 16, kernelSize: 3, padding: 1, rng: &rng), norm,
            Conv2D(inChannels: 16, outChannels: 8, kernelSize: 3, stride: 2, padding: 1, rng: &rng), ReLU(),
            GlobalAvgPool(), Linear(inFeatures: 8, outFeatures: 10, rng: &rng),
        ])
        model.isTraining = false
        return model
    }

    static func batch(_ count: Int) -> Tensor {
        var rng = RandomStream(seed: 42)
        let input = Tensor(zeros: Shape(count, 1, 28, 28))
        GradientCheck.fill(input, rng: &rng)
        return input
    }

    @Test func chunksArePowersOfTwoWithinTheBudget() {
        let model = Self.network()
        #expect(Sequential.inferenceChunkBudget / (16 * 28 * 28) == 20)   // images the budget holds
        #expect(model.inferenceImagesPerChunk(for: Shape(41, 1, 28, 28)) == 16)   // chunks of 16, 16 and 9
        #expect(model.inferenceImagesPerChunk(for: Shape(16, 1, 28, 28)) == nil)  // fits whole
        // parameters larger than the budget: every chunk would read them again, so no chunks
        var rng = RandomStream(seed: 43)
        let wide = Sequential([Flatten(), Linear(inFeatures: 784, outFeatures: 400, rng: &rng)])
        #expect(wide.inferenceImagesPerChunk(for: Shape(4096, 1, 28, 28)) == nil)
    }

    /// Chunked, the logits are the whole batch's forward pass to rounding (a chunk's GEMMs are narrower
    /// than the batch's) and, below, the same bits on any number of threads.
    @Test func matchesTheForwardPass() {
        let model = Self.network(), input = Self.batch(41)
        let forward = model.forward(input).scalars
        let inferred = model.infer(input)
        #expect(inferred.shape == Shape(41, 10))
        let worst = zip(inferred.scalars, forward).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5, "largest difference \(worst)")
    }

    @Test func givesTheSameBitsOnAnyNumberOfThreads() {
        let input = Self.batch(41)
        let serial = Self.network()
        let expected = serial.infer(input).scalars.map(\.bitPattern)
        for threads in [2, 3] {
            let model = Self.network()
            model.compute = ComputeContext(threads: threads)
            #expect(model.infer(input).scalars.map(\.bitPattern) == expected, "\(threads) threads")
            // a second call reuses the replicas and gives the same again
            #expect(model.infer(input).scalars.map(\.bitPattern) == expected, "\(threads) threads, again")
        }
    }

    /// A pre-activation ResNet (an identity block, then a stride-2 block with a projection shortcut)
    /// infers its chunks of 16 images on image cells, block to block, and its last chunk of 2 by the
    /// forward pass: every image gets the bits its own forward pass alone gives it (the flat layout).
    @Test func residualNetworkGivesEachImageItsForwardBits() {
        var rng = RandomStream(seed: 44)
        let blocks = [PreActivationBlock(inChannels: 16, outChannels: 16, stride: 1, rng: &rng),
                      PreActivationBlock(inChannels: 16, outChannels: 24, stride: 2, rng: &rng)]
        let head = BatchNorm(channels: 24, fusesReLU: true)
        for norm in blocks.flatMap({ [$0.bn1, $0.bn2] }) + [head] {
            GradientCheck.fill(norm.runningMean, rng: &rng, scale: 0.2)
            GradientCheck.fill(norm.weight.value, rng: &rng)
            GradientCheck.fill(norm.bias.value, rng: &rng, scale: 0.2)
            for c in 0..<norm.channels { norm.runningVariance[c] = rng.nextFloat(in: 0.5, 1.5) }
        }
        let model = Sequential([Conv2D(inChannels: 1, outChannels: 16, kernelSize: 3, padding: 1, hasBias: false,
                                       rng: &rng)] + blocks
                               + [head, GlobalAvgPool(), Linear(inFeatures: 24, outFeatures: 10, rng: &rng)])
        model.isTraining = false
        let input = Self.batch(34)
        #expect(model.inferenceImagesPerChunk(for: input.shape) == 16)
        let inferred = model.infer(input).scalars.map(\.bitPattern)
        for n in 0..<34 {
            let alone = model.forward(input.items(n..<(n + 1)).copy()).scalars.map(\.bitPattern)
            #expect(Array(inferred[(n * 10)..<((n + 1) * 10)]) == alone, "image \(n)")
        }
    }
}
