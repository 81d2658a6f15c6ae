import AdvNN
import Foundation
import Testing

/// The vector SiLU against its definition in Double, and its independence of where an element sits.
@Suite struct SiLUTests {
    /// σ(x) and x·σ(x) within a few Float ulps of the Double formula, from the saturated tails through
    /// zero; σ is exactly 0 and 1 far out.
    @Test func matchesTheDefinitionInDouble() {
        let values = stride(from: -100.0, through: 100.0, by: 0.0137).map { Float($0) } + [0, -0, 1e-8, -1e-8, 88, -88, 200, -200]
        let x = Tensor(shape: Shape(values.count), scalars: values)
        let y = Tensor(zeros: x.shape), sigmoid = Tensor(zeros: x.shape)
        Elementwise.silu(x.data, into: y.data, sigmoid: sigmoid.data, count: values.count)
        for (i, value) in values.enumerated() {
            let exact = 1 / (1 + Foundation.exp(-Double(value)))
            // relative error, except below σ's smallest normal Float (x < −87), where it is exactly 0
            #expect(abs(Double(sigmoid[i]) - exact) <= 4e-7 * exact + 1e-37, "σ(\(value))")
            #expect(abs(Double(y[i]) - Double(value) * exact) <= 4e-7 * abs(Double(value) * exact) + 1e-35, "silu(\(value))")
        }
        #expect(sigmoid[values.count - 2] == 1 && sigmoid[values.count - 1] == 0)   // σ(200), σ(−200)
    }

    /// The last partial vector goes through the same code as full ones: an element's value does not
    /// depend on the count or the offset it is computed at (so chunking over threads changes nothing).
    @Test func anElementsValueDoesNotDependOnItsPosition() {
        var rng = RandomStream(seed: 9)
        let values = (0..<53).map { _ in rng.nextFloat(in: -9, 9) }
        let x = Tensor(shape: Shape(values.count), scalars: values)
        let whole = Tensor(zeros: x.shape), sigmoid = Tensor(zeros: x.shape)
        Elementwise.silu(x.data, into: whole.data, sigmoid: sigmoid.data, count: values.count)
        for start in [0, 5, 16, 37, 52] {
            let single = Tensor(zeros: Shape(1)), singleSigmoid = Tensor(zeros: Shape(1))
            Elementwise.silu(x.data + start, into: single.data, sigmoid: singleSigmoid.data, count: 1)
            #expect(single[0] == whole[start] && singleSigmoid[0] == sigmoid[start])
        }
        let dOutput = Tensor(repeating: 1, shape: x.shape), dInput = Tensor(zeros: x.shape)
        Elementwise.siluBackward(dOutput.data, input: x.data, sigmoid: sigmoid.data, into: dInput.data, count: values.count)
        let tail = Tensor(zeros: Shape(5))
        Elementwise.siluBackward(dOutput.data + 48, input: x.data + 48, sigmoid: sigmoid.data + 48, into: tail.data, count: 5)
        #expect(tail.scalars == Array(dInput.scalars[48...]))
    }

    /// cnn-small with SiLU applies it before each pooling (SiLU does not commute with max) and keeps the
    /// parameter names of the ReLU model.
    @Test func cnnSmallWithSiLUActivatesBeforePooling() throws {
        var rng = RandomStream(seed: 10)
        let spec = ModelSpec(architecture: "cnn-small", inputShape: [1, 12, 12], classes: 3, hidden: [6], widths: [2, 3],
                             activation: .silu)
        let model = try spec.build(rng: &rng)
        let kinds = model.layers.map { String(describing: type(of: $0)) }
        #expect(kinds == ["Conv2D", "SiLU", "MaxPool2D", "Conv2D", "SiLU", "MaxPool2D", "Flatten", "Linear", "SiLU", "Linear"])
        var reluSpec = spec
        reluSpec.activation = nil
        #expect(model.namedParameters.map(\.name) == (try reluSpec.build(rng: &rng)).namedParameters.map(\.name))
    }

    /// Through a model: convolution and linear layers with SiLUs between them, every gradient against
    /// finite differences (without pooling, whose kinks a finite step can cross; pooling has its own).
    @Test func gradientsThroughAModelWithSiLUs() {
        var rng = RandomStream(seed: 11)
        let model = Sequential([
            Conv2D(inChannels: 1, outChannels: 2, kernelSize: 3, padding: 1, rng: &rng), SiLU(), Flatten(),
            Linear(inFeatures: 2 * 5 * 5, outFeatures: 4, rng: &rng), SiLU(),
            Linear(inFeatures: 4, outFeatures: 3, rng: &rng),
        ])
        let input = Tensor(zeros: Shape(2, 1, 5, 5))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.checkLayer(model, input: input, rng: &rng)
    }

    /// Specs written before `activation` existed decode as ReLU models; a SiLU spec survives JSON.
    @Test func specsRoundTripWithAndWithoutActivation() throws {
        let old = #"{"architecture":"mlp","inputShape":[4],"classes":2,"hidden":[3]}"#
        #expect(try JSONDecoder().decode(ModelSpec.self, from: Data(old.utf8)).activation == nil)
        let spec = ModelSpec(architecture: "mlp", inputShape: [4], classes: 2, hidden: [3], activation: .silu)
        #expect(try JSONDecoder().decode(ModelSpec.self, from: JSONEncoder().encode(spec)) == spec)
        #expect(spec.summary == "mlp(hidden: [3], activation: silu) [4] → 2")
    }
}
