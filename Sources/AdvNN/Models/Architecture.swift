/// The architectures a `ModelSpec` names, as a table: each one's name, what it is, what it needs of
/// the input and its options, and how to build its layers. `ModelSpec` (and so every checkpoint, which
/// stores its spec) finds its architecture here by name; the manifest's architecture registry
/// (AdvRobust) adds each one's keys. Adding an architecture is one entry here and one there.
public struct Architecture: Sendable {
    public let name: String
    /// One line: the layers, for documentation.
    public let summary: String
    /// Whether it needs image inputs [C, H, W] (of at least 8×8).
    public let needsImages: Bool
    /// Extra checks of a spec's options; the message names the option.
    let validate: @Sendable (ModelSpec) throws -> Void
    /// The layers for `spec`, initialised from `rng` in a fixed order (so a seed gives the same weights).
    let layers: @Sendable (ModelSpec, inout RandomStream) throws -> [any Layer]

    /// Every architecture advd builds.
    public static let all: [Architecture] = [.linear, .mlp, .cnnSmall, .lenet, .preactResNet]

    public static func named(_ name: String) -> Architecture? {
        all.first { $0.name == name }
    }
}

extension Architecture {
    /// The flattened feature count after `layers` for one example of `spec`'s input shape.
    static func features(after layers: [any Layer], spec: ModelSpec) -> Int {
        Sequential(layers).outputShape(for: Shape([1] + spec.inputShape))[1]
    }

    /// - Throws: `ModelError` when a hidden width is not positive.
    static func checkHidden(_ spec: ModelSpec) throws {
        if let hidden = spec.hidden, hidden.contains(where: { $0 <= 0 }) { throw ModelError("hidden sizes must be positive, got \(hidden)") }
    }

    /// A new layer of the spec's activation (ReLU unless it says otherwise).
    static func activation(_ spec: ModelSpec) -> any Layer { spec.effectiveActivation.layer() }

    static func inputChannels(_ spec: ModelSpec) -> Int { spec.inputShape.count == 3 ? spec.inputShape[0] : 0 }

    /// Flatten, then a Linear → activation per hidden width, then the classifier; `earlier` are the
    /// layers before it (their output sets the first Linear's width).
    static func perceptron(_ spec: ModelSpec, after earlier: [any Layer] = [], hidden: [Int], rng: inout RandomStream) -> [any Layer] {
        var layers: [any Layer] = [Flatten()]
        var width = features(after: earlier + layers, spec: spec)
        for size in hidden {
            layers += [Linear(inFeatures: width, outFeatures: size, rng: &rng), activation(spec)]
            width = size
        }
        layers.append(Linear(inFeatures: width, outFeatures: spec.classes, rng: &rng))
        return layers
    }

    public static let linear = Architecture(
        name: "linear", summary: "Flatten → Linear(in → classes)", needsImages: false, validate: { _ in },
        layers: { spec, rng in perceptron(spec, hidden: [], rng: &rng) })

    public static let mlp = Architecture(
        name: "mlp", summary: "Flatten → [Linear → ReLU (or the activation)] per hidden width → Linear(→ classes)", needsImages: false,
        validate: { spec in
            try checkHidden(spec)
        },
        layers: { spec, rng in perceptron(spec, hidden: spec.hidden ?? [], rng: &rng) })

    /// Max pooling runs before the ReLU: the two commute (the same outputs and the same gradients,
    /// tested), and the ReLU then touches a quarter of the elements. An activation that does not
    /// commute with it (SiLU) runs before the pooling, as in PyTorch. The layer indices of the
    /// convolutions and linear layers, and so the checkpoint names, are PyTorch's either way.
    /// `widths` sets the two convolutions' channels and `hidden` the fully connected layers' widths, so
    /// a wider variant (more capacity, which adversarial training rewards) keeps the same layout.
    public static let cnnSmall = Architecture(
        name: "cnn-small",
        summary: "the CNN of Madry et al.'s MNIST challenge: conv 32 5×5, pool, conv 64 5×5, pool, fc 1024, fc classes (ReLUs)",
        needsImages: true,
        validate: { spec in
            if let widths = spec.widths, widths.count != 2 || widths.contains(where: { $0 <= 0 }) {
                throw ModelError("cnn-small's widths are its two convolutions' channels, two positive sizes, got \(widths)")
            }
            try checkHidden(spec)
        },
        layers: { spec, rng in
            let channels = spec.widths ?? [32, 64]
            let poolsFirst = spec.effectiveActivation.commutesWithMaxPooling
            func poolingAndActivation() -> [any Layer] {
                poolsFirst ? [MaxPool2D(kernelSize: 2), activation(spec)] : [activation(spec), MaxPool2D(kernelSize: 2)]
            }
            let convolutions: [any Layer] =
                [Conv2D(inChannels: inputChannels(spec), outChannels: channels[0], kernelSize: 5, padding: 2, rng: &rng)]
                + poolingAndActivation()
                + [Conv2D(inChannels: channels[0], outChannels: channels[1], kernelSize: 5, padding: 2, rng: &rng)]
                + poolingAndActivation()
            return convolutions + perceptron(spec, after: convolutions, hidden: spec.hidden ?? [1024], rng: &rng)
        })

    public static let lenet = Architecture(
        name: "lenet", summary: "LeNet-5 with ReLU and max pooling: conv 6 5×5, pool, conv 16 5×5, pool, fc 120, fc 84, fc classes",
        needsImages: true, validate: { _ in },
        layers: { spec, rng in
            let padding = spec.inputShape[1] <= 28 ? 2 : 0
            var layers: [any Layer] = [
                Conv2D(inChannels: inputChannels(spec), outChannels: 6, kernelSize: 5, padding: padding, rng: &rng), ReLU(),
                MaxPool2D(kernelSize: 2),
                Conv2D(inChannels: 6, outChannels: 16, kernelSize: 5, rng: &rng), ReLU(),
                MaxPool2D(kernelSize: 2), Flatten(),
            ]
            let width = features(after: layers, spec: spec)
            layers += [Linear(inFeatures: width, outFeatures: 120, rng: &rng), ReLU(),
                       Linear(inFeatures: 120, outFeatures: 84, rng: &rng), ReLU(),
                       Linear(inFeatures: 84, outFeatures: spec.classes, rng: &rng)]
            return layers
        })

    public static let preactResNet = Architecture(
        name: "preact-resnet",
        summary: "a small pre-activation ResNet (He et al. 2016): conv 3×3, blocks per stage of widths (stride 2 between stages), BN, ReLU (or the activation), global average pool, fc classes",
        needsImages: true,
        validate: { spec in
            if let widths = spec.widths, widths.isEmpty || widths.contains(where: { $0 <= 0 }) {
                throw ModelError("widths must be a non-empty list of positive sizes, got \(widths)")
            }
        },
        layers: { spec, rng in
            let stageWidths = spec.widths ?? [16, 32, 64]
            var layers: [any Layer] = [Conv2D(inChannels: inputChannels(spec), outChannels: stageWidths[0], kernelSize: 3,
                                              padding: 1, hasBias: false, rng: &rng)]
            var width = stageWidths[0]
            for (stage, stageWidth) in stageWidths.enumerated() {
                for block in 0..<(spec.blocksPerStage ?? 1) {
                    let stride = stage > 0 && block == 0 ? 2 : 1
                    layers.append(PreActivationBlock(inChannels: width, outChannels: stageWidth, stride: stride,
                                                      activation: spec.effectiveActivation, rng: &rng))
                    width = stageWidth
                }
            }
            layers += [BatchNorm(channels: width), activation(spec), GlobalAvgPool(),
                       Linear(inFeatures: width, outFeatures: spec.classes, rng: &rng)]
            return layers
        })
}
