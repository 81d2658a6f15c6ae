import AdvNN
import Testing

/// A `Linear` followed by a `ReLU` in a `Sequential` applies the ReLU itself, block by block after its
/// product, and the ReLU passes the rectified output on: the same bits as the two layers computed one
/// after the other, forward and backward, on the dense kernels and on the GEMM in blocks, on one thread
/// and on two.
@Suite struct LinearReLUFusionTests {
    static func model(seed: UInt64, inputs: Int, hidden: Int) -> Sequential {
        var rng = RandomStream(seed: seed)
        return Sequential([Flatten(), Linear(inFeatures: inputs, outFeatures: hidden, rng: &rng), ReLU(),
                           Linear(inFeatures: hidden, outFeatures: 3, rng: &rng)])
    }

    @Test(arguments: [(8, 12, 40), (200, 64, 256)])
    func fusedLayersGiveTheBitsOfTheLayersOneAfterTheOther(shape: (Int, Int, Int)) {
        let (batch, inputs, hidden) = shape
        var rng = RandomStream(seed: 5)
        let input = Tensor(zeros: Shape(batch, inputs)), dLogits = Tensor(zeros: Shape(batch, 3))
        for i in 0..<input.count { input[i] = rng.nextFloat(in: -1, 1) }
        for i in 0..<dLogits.count { dLogits[i] = rng.nextFloat(in: -1, 1) }

        let separate = Self.model(seed: 3, inputs: inputs, hidden: hidden)
        (separate.layers[1] as! Linear).rectifiesOutput = false
        (separate.layers[2] as! ReLU).inputIsRectified = false
        let expectedLogits = separate.forward(input).scalars
        let expectedInputGradient = separate.backward(dLogits, request: .training)!.scalars
        let expectedWeightGradients = separate.namedParameters.map { $0.parameter.gradient.scalars }

        for threads in [1, 2] {
            let fused = Self.model(seed: 3, inputs: inputs, hidden: hidden)
            #expect((fused.layers[1] as! Linear).rectifiesOutput && (fused.layers[2] as! ReLU).inputIsRectified)
            fused.compute = ComputeContext(threads: threads)
            let logits = fused.forward(input).scalars
            #expect(logits.map(\.bitPattern) == expectedLogits.map(\.bitPattern), "\(threads) threads")
            let hiddenOutput = fused.layers[2].forward(fused.layers[1].forward(input)).scalars
            #expect(hiddenOutput.allSatisfy { $0 >= 0 }, "the hidden layer's output is rectified")
            _ = fused.forward(input)
            let inputGradient = fused.backward(dLogits, request: .training)!.scalars
            #expect(inputGradient.map(\.bitPattern) == expectedInputGradient.map(\.bitPattern), "\(threads) threads")
            let weightGradients = fused.namedParameters.map { $0.parameter.gradient.scalars }
            #expect(weightGradients.map { $0.map(\.bitPattern) } == expectedWeightGradients.map { $0.map(\.bitPattern) })
        }
    }
}
