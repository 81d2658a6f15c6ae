import AdvNN
import Testing

/// Finite-difference gradient checks for layers and losses.
///
/// The scalar checked is L = Σ output ⊙ R for a fixed random R, accumulated in Double; central
/// differences with step `h` are compared with the analytic gradients. Float32 rounding limits the
/// agreement to about 1e-3 relative, far below the O(1) error of a wrong sign, a transposition or an
/// off-by-one in padding, which is what these checks exist to catch.
enum GradientCheck {
    /// Fills `tensor` with values uniform in ±`scale` whose magnitude is at least `gap`, so that a
    /// perturbation of size < gap never crosses a ReLU kink at zero.
    static func fill(_ tensor: Tensor, rng: inout RandomStream, scale: Float = 1, gap: Float = 0) {
        for i in 0..<tensor.count {
            let magnitude = rng.nextFloat(in: gap, scale)
            tensor[i] = rng.next() & 1 == 0 ? magnitude : -magnitude
        }
    }

    /// Fills `tensor` with distinct values spaced `spacing` apart in random order, so max pooling
    /// has no ties and a perturbation smaller than spacing/2 never changes a window's winner.
    static func fillDistinct(_ tensor: Tensor, rng: inout RandomStream, spacing: Float = 0.05) {
        let order = rng.permutation(of: tensor.count)
        for i in 0..<tensor.count { tensor[i] = (Float(order[i]) - Float(tensor.count) / 2) * spacing }
    }

    static func projection(_ output: Tensor, with weights: Tensor) -> Double {
        var sum = 0.0
        for i in 0..<output.count { sum += Double(output[i]) * Double(weights[i]) }
        return sum
    }

    /// Central differences of `loss` with respect to every element of `tensor`.
    static func numericGradient(of tensor: Tensor, step h: Float, loss: () -> Double) -> [Double] {
        (0..<tensor.count).map { i in
            let original = tensor[i]
            tensor[i] = original + h
            let plus = loss()
            tensor[i] = original - h
            let minus = loss()
            tensor[i] = original
            return (plus - minus) / (2 * Double(h))
        }
    }

    /// Expects `analytic` to match `numeric` within `tolerance`, relative to the gradient's size.
    static func expectClose(_ analytic: [Float], _ numeric: [Double], tolerance: Double, _ what: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(analytic.count == numeric.count, "\(what): sizes differ", sourceLocation: sourceLocation)
        let scale = max(numeric.map(abs).max() ?? 0, 1e-3)
        var worst = 0.0, worstIndex = 0
        for (i, (a, n)) in zip(analytic, numeric).enumerated() {
            let error = abs(Double(a) - n) / scale
            if error > worst { worst = error; worstIndex = i }
        }
        #expect(worst <= tolerance,
                "\(what): worst relative error \(worst) at \(worstIndex): analytic \(analytic[worstIndex]), numeric \(numeric[worstIndex])",
                sourceLocation: sourceLocation)
    }

    /// Checks a layer's input gradient and every parameter gradient against finite differences.
    static func checkLayer(_ layer: any Layer, input: Tensor, step h: Float = 1e-2, tolerance: Double = 1e-2,
                           rng: inout RandomStream, sourceLocation: SourceLocation = #_sourceLocation) {
        let outputShape = layer.outputShape(for: input.shape)
        let weights = Tensor(zeros: outputShape)
        fill(weights, rng: &rng)
        let loss = { projection(layer.forward(input), with: weights) }

        for (_, parameter) in layer.namedParameters { parameter.gradient.zero() }
        _ = layer.forward(input)
        let dInput = layer.backward(weights, request: .training)!.scalars
        let parameterGradients = layer.namedParameters.map { ($0.name, $0.parameter.gradient.scalars) }

        expectClose(dInput, numericGradient(of: input, step: h, loss: loss), tolerance: tolerance,
                    "d input", sourceLocation: sourceLocation)
        for ((name, parameter), (_, analytic)) in zip(layer.namedParameters, parameterGradients) {
            expectClose(analytic, numericGradient(of: parameter.value, step: h, loss: loss), tolerance: tolerance,
                        "d \(name)", sourceLocation: sourceLocation)
        }
    }
}
