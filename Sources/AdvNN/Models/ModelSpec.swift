/// A model architecture addressed by name (an `Architecture` of `Architecture.all`) and options, plus
/// the input and output sizes it is built for. Saved as JSON in every checkpoint's
/// `__metadata__["model"]`, so a checkpoint rebuilds its own model.
public struct ModelSpec: Codable, Equatable, Sendable {
    /// The name of one of `Architecture.all`.
    public var architecture: String
    /// Input shape of one example: [C, H, W] or [d].
    public var inputShape: [Int]
    /// Number of classes (logits).
    public var classes: Int
    /// `mlp`, `cnn-small`: the fully connected hidden layers' widths (`cnn-small`'s default [1024]).
    public var hidden: [Int]?
    /// `preact-resnet`: channel width of each stage (default [16, 32, 64]); `cnn-small`: its two
    /// convolutions' channels (default [32, 64]).
    public var widths: [Int]?
    /// `preact-resnet`: residual blocks per stage (default 1).
    public var blocksPerStage: Int?
    /// `mlp`, `cnn-small`, `preact-resnet`: the nonlinearity after each hidden layer or BN (default ReLU).
    public var activation: Activation?

    /// The activation the model is built with: the spec's, or ReLU where it names none.
    public var effectiveActivation: Activation { activation ?? .relu }

    public static var architectures: [String] { Architecture.all.map(\.name) }

    public init(architecture: String, inputShape: [Int], classes: Int, hidden: [Int]? = nil,
                widths: [Int]? = nil, blocksPerStage: Int? = nil, activation: Activation? = nil) {
        self.architecture = architecture
        self.inputShape = inputShape
        self.classes = classes
        self.hidden = hidden
        self.widths = widths
        self.blocksPerStage = blocksPerStage
        self.activation = activation
    }

    /// Checks the options against the architecture and the input shape.
    /// - Throws: `ModelError` naming the option and what is wrong.
    public func validate() throws {
        _ = try checkedArchitecture()
    }

    private func checkedArchitecture() throws -> Architecture {
        guard let found = Architecture.named(architecture) else {
            throw ModelError("unknown architecture \"\(architecture)\"; known: \(Self.architectures.joined(separator: ", "))")
        }
        guard classes >= 2 else { throw ModelError("classes must be at least 2, got \(classes)") }
        guard !inputShape.isEmpty, inputShape.count <= 3, inputShape.allSatisfy({ $0 > 0 }) else {
            throw ModelError("input shape must be [d] or [C, H, W] with positive sizes, got \(inputShape)")
        }
        if found.needsImages {
            guard inputShape.count == 3, inputShape[1] >= 8, inputShape[2] >= 8 else {
                throw ModelError("\(architecture) needs image inputs [C, H, W] of at least 8×8, got \(inputShape)")
            }
        }
        try found.validate(self)
        return found
    }

    /// Builds the model with PyTorch's default initialisation, drawing from `rng`.
    /// - Throws: `ModelError` when the specification is invalid.
    public func build(rng: inout RandomStream) throws -> Sequential {
        Sequential(try checkedArchitecture().layers(self, &rng))
    }

    /// A one-line description, e.g. `mlp(hidden: [256, 256]) [1, 28, 28] → 10`.
    public var summary: String {
        var options: [String] = []
        if let hidden { options.append("hidden: \(hidden)") }
        if let widths { options.append("widths: \(widths)") }
        if let blocksPerStage { options.append("blocks per stage: \(blocksPerStage)") }
        if let activation { options.append("activation: \(activation.rawValue)") }
        let optionText = options.isEmpty ? "" : "(" + options.joined(separator: ", ") + ")"
        return "\(architecture)\(optionText) \(inputShape) → \(classes)"
    }
}

/// A model specification that cannot be built; the message names the option and the problem.
public struct ModelError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
