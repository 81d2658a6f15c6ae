import AdvNN
import Testing

/// What `Sequential.backward` asks of each layer: a training step (`.parametersOnly`) skips the input
/// gradients no layer needs — the first layer with parameters and those below it — and an attack
/// (`.inputOnly`) gets them all.
@Suite struct SequentialBackwardTests {
    static func model() -> Sequential {
        var rng = RandomStream(seed: 8)
        return Sequential([Flatten(), Linear(inFeatures: 12, outFeatures: 5, rng: &rng), ReLU(),
                           Linear(inFeatures: 5, outFeatures: 3, rng: &rng)])
    }

    @Test func aTrainingStepSkipsTheInputGradientsBelowTheFirstParameters() {
        let model = Self.model()
        #expect((0..<4).map { model.gradientRequest(forLayer: $0, .parametersOnly).input } == [false, false, true, true])
        #expect((0..<4).allSatisfy { model.gradientRequest(forLayer: $0, .parametersOnly).parameters })
        #expect((0..<4).allSatisfy { model.gradientRequest(forLayer: $0, .inputOnly) == .inputOnly })

        var rng = RandomStream(seed: 9)
        let input = Tensor(zeros: Shape(2, 3, 2, 2)), dLogits = Tensor(zeros: Shape(2, 3))
        for i in 0..<input.count { input[i] = rng.nextFloat(in: -1, 1) }
        for i in 0..<dLogits.count { dLogits[i] = rng.nextFloat(in: -1, 1) }
        _ = model.forward(input)
        #expect(model.backward(dLogits, request: .parametersOnly) == nil)
        let first = model.namedParameters[0].parameter.gradient
        #expect((0..<first.count).contains { first[$0] != 0 }, "the first layer's weights still get their gradient")
        _ = model.forward(input)
        #expect(model.backward(dLogits, request: .inputOnly)?.shape == input.shape)
    }
}
