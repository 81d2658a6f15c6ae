import AdvNN
import AdvTestSupport
import Testing

@Suite struct ModelSpecTests {
    static func parameterCount(_ model: Sequential) -> Int {
        model.namedParameters.reduce(0) { $0 + $1.parameter.value.count }
    }

    @Test func architecturesHaveTheirPublishedSizes() throws {
        var rng = RandomStream(seed: 1)
        let mlp = try ModelSpec(architecture: "mlp", inputShape: [1, 28, 28], classes: 10, hidden: [256, 256]).build(rng: &rng)
        #expect(Self.parameterCount(mlp) == 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10)
        // Madry et al.'s MNIST challenge model has 3,274,634 parameters.
        let cnn = try ModelSpec(architecture: "cnn-small", inputShape: [1, 28, 28], classes: 10).build(rng: &rng)
        #expect(Self.parameterCount(cnn) == 3_274_634)
        // LeNet-5 on 28×28 with padding 2: 156 + 2,416 + 48,120 + 10,164 + 850
        // widths and hidden widen it layer by layer: conv 1→48, conv 48→96, fc 96·7·7→512→10
        let wide = try ModelSpec(architecture: "cnn-small", inputShape: [1, 28, 28], classes: 10, hidden: [512], widths: [48, 96])
            .build(rng: &rng)
        #expect(Self.parameterCount(wide) == (25 * 48 + 48) + (48 * 25 * 96 + 96) + (96 * 49 * 512 + 512) + (512 * 10 + 10))
        let lenet = try ModelSpec(architecture: "lenet", inputShape: [1, 28, 28], classes: 10).build(rng: &rng)
        #expect(Self.parameterCount(lenet) == 61_706)
        let linear = try ModelSpec(architecture: "linear", inputShape: [1000], classes: 2).build(rng: &rng)
        #expect(Self.parameterCount(linear) == 2002)
    }

    @Test(arguments: ["linear", "mlp", "cnn-small", "lenet", "preact-resnet"])
    func everyArchitectureMapsABatchToLogits(name: String) throws {
        var rng = RandomStream(seed: 2)
        let spec = ModelSpec(architecture: name, inputShape: [3, 32, 32], classes: 7, hidden: [8], widths: [4, 8])
        let model = try spec.build(rng: &rng)
        let input = Tensor(zeros: Shape(2, 3, 32, 32))
        GradientCheck.fill(input, rng: &rng)
        let logits = model.forward(input)
        #expect(logits.shape == Shape(2, 7))
        #expect(logits.scalars.allSatisfy { $0.isFinite })
        let dInput = model.backward(Tensor(repeating: 1, shape: Shape(2, 7)), request: .inputOnly)
        #expect(dInput?.shape == input.shape)
    }

    /// SiLU in a ResNet is its own layer after each BN, with no parameters: the model draws the same
    /// weights from the same seed and keeps the ReLU model's tensor names (PyTorch's, for the twin in
    /// bench/), and computes a different function.
    @Test func preactResNetTakesAnActivation() throws {
        func build(_ activation: Activation?) throws -> Sequential {
            var rng = RandomStream(seed: 5)
            return try ModelSpec(architecture: "preact-resnet", inputShape: [1, 12, 12], classes: 3, widths: [4, 8],
                                 activation: activation).build(rng: &rng)
        }
        let relu = try build(nil), silu = try build(.silu)
        let reluState = ModelCheckpoint.stateTensors(of: relu), siluState = ModelCheckpoint.stateTensors(of: silu)
        #expect(reluState.map(\.name) == siluState.map(\.name))
        #expect(zip(reluState, siluState).allSatisfy { $0.tensor.scalars == $1.tensor.scalars })
        #expect(silu.layers.contains { $0 is SiLU } && !silu.layers.contains { $0 is ReLU })
        var rng = RandomStream(seed: 6)
        let input = Tensor(zeros: Shape(2, 1, 12, 12))
        GradientCheck.fill(input, rng: &rng)
        #expect(relu.forward(input).scalars != silu.forward(input).scalars)
    }

    @Test func initialisationFollowsPyTorchDefaults() throws {
        var rng = RandomStream(seed: 3)
        let layer = Linear(inFeatures: 400, outFeatures: 300, rng: &rng)
        let bound: Float = 1 / 20
        let weights = layer.weight.value.scalars
        #expect(weights.allSatisfy { abs($0) <= bound })
        #expect(weights.max()! > 0.95 * bound && weights.min()! < -0.95 * bound)
        let variance = weights.reduce(0) { $0 + Double($1 * $1) } / Double(weights.count)
        #expect(abs(variance - Double(bound * bound) / 3) < 1e-5)   // uniform(±b) has variance b²/3
    }

    @Test func invalidSpecificationsAreExplained() {
        var rng = RandomStream(seed: 4)
        expectError(containing: ["unknown architecture \"resnet50\"", "mlp"]) {
            _ = try ModelSpec(architecture: "resnet50", inputShape: [1, 28, 28], classes: 10).build(rng: &rng)
        }
        expectError(containing: ["cnn-small needs image inputs"]) {
            _ = try ModelSpec(architecture: "cnn-small", inputShape: [100], classes: 10).build(rng: &rng)
        }
        expectError(containing: ["cnn-small's widths are its two convolutions' channels", "[16, 32, 64]"]) {
            _ = try ModelSpec(architecture: "cnn-small", inputShape: [1, 28, 28], classes: 10, widths: [16, 32, 64]).build(rng: &rng)
        }
        expectError(containing: ["hidden sizes must be positive"]) {
            _ = try ModelSpec(architecture: "mlp", inputShape: [10], classes: 2, hidden: [0]).build(rng: &rng)
        }
    }
}
