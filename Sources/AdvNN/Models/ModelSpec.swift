/// A model architecture addressed by name and options, plus the input and output sizes it is built for.
/// Saved as JSON in every checkpoint's `__metadata__["model"]`, so a checkpoint rebuilds its own model.
///
/// Architectures (inputs are (N, C, H, W) images or (N, d) vectors):
/// - `linear`: Flatten → Linear(in → classes)
/// - `mlp`: Flatten → [Linear → ReLU] per entry of `hidden` → Linear(→ classes)
/// - `cnn-small`: the CNN of Madry et al.'s MNIST challenge: conv 32 5×5 pad 2, ReLU, maxpool 2,
///   conv 64 5×5 pad 2, ReLU, maxpool 2, fc 1024, ReLU, fc classes (each pool runs before its ReLU:
///   the same function, see `build`)
/// - `lenet`: LeNet-5 with ReLU and max pooling: conv 6 5×5 (pad 2 on 28×28), pool, conv 16 5×5, pool,
///   fc 120, fc 84, fc classes
/// - `preact-resnet`: a small pre-activation ResNet for 32×32 colour images: conv 3×3 to `widths[0]`,
///   `blocksPerStage` blocks per stage of `widths` (stride 2 between stages), BN, ReLU, global average
///   pool, fc classes
public struct ModelSpec: Codable, Equatable, Sendable {
    /// One of `ModelSpec.architectures`.
    public var architecture: String
    /// Input shape of one example: [C, H, W] or [d].
    public var inputShape: [Int]
    /// Number of classes (logits).
    public var classes: Int
    /// `mlp`: hidden layer widths.
    public var hidden: [Int]?
    /// `preact-resnet`: channel width of each stage (default [16, 32, 64]).
    public var widths: [Int]?
    /// `preact-resnet`: residual blocks per stage (default 1).
    public var blocksPerStage: Int?

    public static let architectures = ["linear", "mlp", "cnn-small", "lenet", "preact-resnet"]

    public init(architecture: String, inputShape: [Int], classes: Int, hidden: [Int]? = nil,
                widths: [Int]? = nil, blocksPerStage: Int? = nil) {
        self.architecture = architecture
        self.inputShape = inputShape
        self.classes = classes
        self.hidden = hidden
        self.widths = widths
        self.blocksPerStage = blocksPerStage
    }

    /// Checks the options against the architecture and the input shape.
    /// - Throws: `ModelError` naming the option and what is wrong.
    public func validate() throws {
        guard Self.architectures.contains(architecture) else {
            throw ModelError("unknown architecture \"\(architecture)\"; known: \(Self.architectures.joined(separator: ", "))")
        }
        guard classes >= 2 else { throw ModelError("classes must be at least 2, got \(classes)") }
        guard !inputShape.isEmpty, inputShape.count <= 3, inputShape.allSatisfy({ $0 > 0 }) else {
            throw ModelError("input shape must be [d] or [C, H, W] with positive sizes, got \(inputShape)")
        }
        if let hidden, hidden.contains(where: { $0 <= 0 }) {
            throw ModelError("hidden sizes must be positive, got \(hidden)")
        }
        switch architecture {
        case "cnn-small", "lenet", "preact-resnet":
            guard inputShape.count == 3, inputShape[1] >= 8, inputShape[2] >= 8 else {
                throw ModelError("\(architecture) needs image inputs [C, H, W] of at least 8×8, got \(inputShape)")
            }
            if architecture == "preact-resnet", let widths, widths.isEmpty || widths.contains(where: { $0 <= 0 }) {
                throw ModelError("widths must be a non-empty list of positive sizes, got \(widths)")
            }
        default:
            break
        }
    }

    /// Builds the model with PyTorch's default initialisation, drawing from `rng`.
    /// - Throws: `ModelError` when the specification is invalid.
    public func build(rng: inout RandomStream) throws -> Sequential {
        try validate()
        let batchedInput = Shape([1] + inputShape)
        var layers: [any Layer] = []
        /// Appends a layer and returns its output shape for a one-example batch.
        func shapeAfter(_ newLayers: [any Layer]) -> Shape {
            layers += newLayers
            return Sequential(layers).outputShape(for: batchedInput)
        }
        let channels = inputShape.count == 3 ? inputShape[0] : 0
        switch architecture {
        case "linear", "mlp":
            var width = shapeAfter([Flatten()])[1]
            for size in hidden ?? [] {
                layers += [Linear(inFeatures: width, outFeatures: size, rng: &rng), ReLU()]
                width = size
            }
            layers.append(Linear(inFeatures: width, outFeatures: classes, rng: &rng))
        case "cnn-small":
            // Max pooling runs before the ReLU: the two commute (the same outputs and the same gradients,
            // tested), and the ReLU then touches a quarter of the elements. The layer indices of the
            // convolutions and linear layers, and so the checkpoint names, are PyTorch's either way.
            let features = shapeAfter([
                Conv2D(inChannels: channels, outChannels: 32, kernelSize: 5, padding: 2, rng: &rng),
                MaxPool2D(kernelSize: 2), ReLU(),
                Conv2D(inChannels: 32, outChannels: 64, kernelSize: 5, padding: 2, rng: &rng),
                MaxPool2D(kernelSize: 2), ReLU(), Flatten(),
            ])[1]
            layers += [Linear(inFeatures: features, outFeatures: 1024, rng: &rng), ReLU(),
                       Linear(inFeatures: 1024, outFeatures: classes, rng: &rng)]
        case "lenet":
            let padding = inputShape[1] <= 28 ? 2 : 0
            let features = shapeAfter([
                Conv2D(inChannels: channels, outChannels: 6, kernelSize: 5, padding: padding, rng: &rng), ReLU(),
                MaxPool2D(kernelSize: 2),
                Conv2D(inChannels: 6, outChannels: 16, kernelSize: 5, rng: &rng), ReLU(),
                MaxPool2D(kernelSize: 2), Flatten(),
            ])[1]
            layers += [Linear(inFeatures: features, outFeatures: 120, rng: &rng), ReLU(),
                       Linear(inFeatures: 120, outFeatures: 84, rng: &rng), ReLU(),
                       Linear(inFeatures: 84, outFeatures: classes, rng: &rng)]
        default:  // preact-resnet
            let stageWidths = widths ?? [16, 32, 64]
            layers.append(Conv2D(inChannels: channels, outChannels: stageWidths[0], kernelSize: 3, padding: 1,
                                 hasBias: false, rng: &rng))
            var width = stageWidths[0]
            for (stage, stageWidth) in stageWidths.enumerated() {
                for block in 0..<(blocksPerStage ?? 1) {
                    let stride = stage > 0 && block == 0 ? 2 : 1
                    layers.append(PreActivationBlock(inChannels: width, outChannels: stageWidth, stride: stride, rng: &rng))
                    width = stageWidth
                }
            }
            layers += [BatchNorm(channels: width), ReLU(), GlobalAvgPool(),
                       Linear(inFeatures: width, outFeatures: classes, rng: &rng)]
        }
        return Sequential(layers)
    }

    /// A one-line description, e.g. `mlp(hidden: [256, 256]) [1, 28, 28] → 10`.
    public var summary: String {
        var options: [String] = []
        if let hidden { options.append("hidden: \(hidden)") }
        if let widths { options.append("widths: \(widths)") }
        if let blocksPerStage { options.append("blocks per stage: \(blocksPerStage)") }
        let optionText = options.isEmpty ? "" : "(" + options.joined(separator: ", ") + ")"
        return "\(architecture)\(optionText) \(inputShape) → \(classes)"
    }
}

/// A model specification that cannot be built; the message names the option and the problem.
public struct ModelError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
