/// The defense registry: every input defense a manifest can put in front of the model. Each defense
/// declares its entry in its own file; adding one is that file and one line in `standard`.
public typealias DefenseEntry = RegistryEntry<any InputDefense, DefenseContext>
public typealias DefenseRegistry = Registry<any InputDefense, DefenseContext>

/// What a defense's keys are checked against: the data it will transform.
public struct DefenseContext: Sendable {
    public var datasetName: String
    /// Whether inputs are images in [0, 1] (N, C, H, W) rather than vectors.
    public var hasImageInputs: Bool

    public init(datasetName: String, hasImageInputs: Bool) {
        self.datasetName = datasetName
        self.hasImageInputs = hasImageInputs
    }
}

extension Registry where Part == any InputDefense, Context == DefenseContext {
    public static let standard = DefenseRegistry(
        kind: "defense", entries: [.bitDepth, .medianFilter, .gaussianNoise, .randomDropping, .resizePad])

    /// What the attack checks need to know of the defense a spec describes.
    public func traits(of spec: PartSpec, context: DefenseContext) throws -> DefenseTraits {
        DefenseTraits(try make(spec, context: context), name: spec.name)
    }
}

extension RegistryEntry where Part == any InputDefense, Context == DefenseContext {
    /// A check for defenses that work on images only.
    @Sendable static func requireImages(_ part: DecodedPart<DefenseContext>) throws {
        if !part.context.hasImageInputs {
            throw part.error(at: "name", "\(part.spec.name) works on images; \(part.context.datasetName) has vector inputs")
        }
    }
}
