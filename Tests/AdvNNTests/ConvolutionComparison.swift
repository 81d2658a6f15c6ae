import AdvNN
import Testing

/// Comparisons of convolution results, each within `tolerance` of the largest expected magnitude.
enum ConvolutionComparison {
    /// A convolution path against the unrolled one on the same parameters: the output, the input
    /// gradient and the parameters' gradients.
    static func expectAgreement(_ unrolled: Conv2D, algorithm: ConvolutionAlgorithm, input: Tensor,
                                tolerance: Float, rng: inout RandomStream,
                                sourceLocation: SourceLocation = #_sourceLocation) {
        unrolled.algorithm = .unrolled
        let other = unrolled.replica()   // the same parameters
        other.algorithm = algorithm
        let outputs = [unrolled, other].map { $0.forward(input).scalars }
        expectClose(outputs[1], outputs[0], tolerance: tolerance, "output", sourceLocation: sourceLocation)
        let dOutput = Tensor(zeros: unrolled.outputShape(for: input.shape))
        GradientCheck.fill(dOutput, rng: &rng)
        let gradients = [unrolled, other].map { layer in
            layer.weight.gradient.zero()   // the shared gradients: each layer's contribution from zero
            layer.bias?.gradient.zero()
            let dInput = layer.backward(dOutput, request: .training)!.scalars
            return (dInput, layer.weight.gradient.scalars, layer.bias?.gradient.scalars ?? [])
        }
        expectClose(gradients[1].0, gradients[0].0, tolerance: tolerance, "input gradient", sourceLocation: sourceLocation)
        expectClose(gradients[1].1, gradients[0].1, tolerance: tolerance, "weight gradient", sourceLocation: sourceLocation)
        expectClose(gradients[1].2, gradients[0].2, tolerance: tolerance, "bias gradient", sourceLocation: sourceLocation)
    }

    static func expectClose(_ actual: [Float], _ expected: [Float], tolerance: Float, _ what: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual.count == expected.count, sourceLocation: sourceLocation)
        let scale = expected.map(abs).max() ?? 1
        let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= tolerance * max(scale, 1), "\(what): largest difference \(worst) at scale \(scale)",
                sourceLocation: sourceLocation)
    }
}
