import AdvNN

/// The architecture registry (`model.architecture`): each of AdvNN's `Architecture`s with the manifest
/// keys of its options. An entry makes a `ModelRecipe`, since the input shape and class count are
/// known only once the data is loaded.
public typealias ArchitectureEntry = RegistryEntry<ModelRecipe, NoContext>
public typealias ArchitectureRegistry = Registry<ModelRecipe, NoContext>

/// A model's architecture and options, waiting for the data's input shape and class count.
public struct ModelRecipe: Sendable {
    let make: @Sendable (_ inputShape: [Int], _ classes: Int) -> ModelSpec

    /// The model spec for data of `inputShape` examples and `classes` classes.
    public func spec(inputShape: [Int], classes: Int) -> ModelSpec { make(inputShape, classes) }
}

extension Registry where Part == ModelRecipe, Context == NoContext {
    public static let standard = ArchitectureRegistry(
        kind: "architecture", entries: [.architecture(.linear), .mlp, .cnnSmall, .architecture(.lenet), .preactResNet])
}

extension RegistryEntry where Part == ModelRecipe, Context == NoContext {
    /// An architecture without options.
    static func architecture(_ architecture: Architecture) -> ArchitectureEntry {
        ArchitectureEntry(name: architecture.name, summary: architecture.summary, keys: [], make: { _, _ in
            ModelRecipe { ModelSpec(architecture: architecture.name, inputShape: $0, classes: $1) }
        })
    }

    /// `activation`: left out, the architecture's ReLU (and a spec without the field, as older
    /// checkpoints have).
    static let activationKey = ParameterKey<NoContext>(
        "activation", .choice(Activation.allCases.map { Choice($0.rawValue, $0.summary) }), default: .absent,
        doc: "the nonlinearity after each hidden layer, or after each BatchNorm of a ResNet (default relu)")

    /// The activation `spec` names, nil when it leaves the key out.
    static func activation(_ spec: PartSpec) -> Activation? {
        spec.optionalString("activation").map { Activation(rawValue: $0)! }   // decoding checked the name
    }

    public static let mlp = ArchitectureEntry(
        name: Architecture.mlp.name, summary: Architecture.mlp.summary,
        keys: [.init("hidden", .integers(1...1_000_000), default: .value(.integers([256, 256])), doc: "the hidden layers' widths"),
               activationKey],
        make: { spec, _ in
            ModelRecipe {
                ModelSpec(architecture: Architecture.mlp.name, inputShape: $0, classes: $1, hidden: spec.ints("hidden"),
                          activation: activation(spec))
            }
        })

    public static let cnnSmall = ArchitectureEntry(
        name: Architecture.cnnSmall.name, summary: Architecture.cnnSmall.summary,
        keys: [.init("widths", .integers(1...1_000_000), default: .absent, doc: "the two convolutions' channels (default [32, 64])"),
               .init("hidden", .integers(1...1_000_000), default: .absent, doc: "the fully connected hidden layers' widths (default [1024])"),
               activationKey],
        check: { part in
            if case let .integers(widths)? = part["widths"], widths.count != 2 {
                throw part.error(at: "widths", "expected the two convolutions' channels, got \(widths.count) sizes")
            }
        },
        make: { spec, _ in
            ModelRecipe {
                ModelSpec(architecture: Architecture.cnnSmall.name, inputShape: $0, classes: $1, hidden: spec.optionalInts("hidden"),
                          widths: spec.optionalInts("widths"), activation: activation(spec))
            }
        })

    public static let preactResNet = ArchitectureEntry(
        name: Architecture.preactResNet.name, summary: Architecture.preactResNet.summary,
        keys: [.init("widths", .integers(1...1_000_000), default: .absent, doc: "each stage's channels (default [16, 32, 64])"),
               .init("blocks_per_stage", .integer(1...64), default: .absent, doc: "residual blocks per stage (default 1)"),
               activationKey],
        check: { part in
            if case let .integers(widths)? = part["widths"], widths.isEmpty {
                throw part.error(at: "widths", "expected at least one stage width")
            }
        },
        make: { spec, _ in
            ModelRecipe {
                ModelSpec(architecture: Architecture.preactResNet.name, inputShape: $0, classes: $1, widths: spec.optionalInts("widths"),
                          blocksPerStage: spec.optionalInt("blocks_per_stage"), activation: activation(spec))
            }
        })
}
