import AdvNN
import Testing

/// Linear's work on the threads: the bias fill of the forward and the bias gradient's column sums, and
/// the dense kernels' forward of a small batch. (The finite-difference check is in LayerGradientTests;
/// this pins the threaded loops.)
@Suite struct LinearTests {
    /// 1,000 outputs (not a multiple of 16, so a thread's block of columns ends in an overlapping
    /// vector) at batch 80: large enough that both loops split over two or three threads.
    @Test(arguments: [1, 2, 3])
    func biasFillAndBiasGradientMatchTheScalarLoops(threads: Int) {
        var rng = RandomStream(seed: 11)
        let inFeatures = 37, outFeatures = 1000, batch = 80
        let layer = Linear(inFeatures: inFeatures, outFeatures: outFeatures, rng: &rng)
        layer.compute = ComputeContext(threads: threads)
        let input = Tensor(zeros: Shape(batch, inFeatures))
        let dOutput = Tensor(zeros: Shape(batch, outFeatures))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.fill(dOutput, rng: &rng)

        let output = layer.forward(input)
        let product = Tensor(zeros: Shape(batch, outFeatures))
        BLAS.gemmNaive(transposeB: true, m: batch, n: outFeatures, k: inFeatures,
                       a: input.data, b: layer.weight.value.data, c: product.data)
        var largest: Float = 0
        for n in 0..<batch {
            for o in 0..<outFeatures {
                largest = max(largest, abs(output[n * outFeatures + o] - (product[n * outFeatures + o] + layer.bias.value[o])))
            }
        }
        #expect(largest < 1e-4)

        layer.bias.gradient[0] = 0.5   // gradients accumulate: the sums must add to what is there
        _ = layer.backward(dOutput, request: GradientRequest(input: false, parameters: true))
        var mismatches = 0
        for o in 0..<outFeatures {
            var sum: Float = o == 0 ? 0.5 : 0
            for n in 0..<batch { sum += dOutput[n * outFeatures + o] }
            if sum.bitPattern != layer.bias.gradient[o].bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    /// A batch of 32 and a 10-wide layer at batch 100: the shapes the dense kernels take where the CPU
    /// has them (`DenseRowsKernel.preferred`), with 1,000 columns to share among the threads.
    @Test(arguments: [(32, 300, 1000), (100, 64, 10)])
    func smallBatchForwardIsTheProductAndTheSameBitsOnAnyThreads(shape: (Int, Int, Int)) {
        let (batch, inFeatures, outFeatures) = shape
        var rng = RandomStream(seed: 12)
        let layer = Linear(inFeatures: inFeatures, outFeatures: outFeatures, rng: &rng)
        let input = Tensor(zeros: Shape(batch, inFeatures))
        GradientCheck.fill(input, rng: &rng)
        let product = Tensor(zeros: Shape(batch, outFeatures))
        BLAS.gemmNaive(transposeB: true, m: batch, n: outFeatures, k: inFeatures,
                       a: input.data, b: layer.weight.value.data, c: product.data)

        var outputs: [[UInt32]] = []
        for threads in [1, 2, 3] {
            layer.compute = ComputeContext(threads: threads)
            let output = layer.forward(input)
            var largest: Float = 0
            for n in 0..<batch {
                for o in 0..<outFeatures {
                    let expected = product[n * outFeatures + o] + layer.bias.value[o]
                    largest = max(largest, abs(output[n * outFeatures + o] - expected))
                }
            }
            #expect(largest < 1e-4, "\(threads) threads")
            outputs.append((0..<output.count).map { output[$0].bitPattern })
        }
        #expect(outputs.allSatisfy { $0 == outputs[0] })
    }
}
