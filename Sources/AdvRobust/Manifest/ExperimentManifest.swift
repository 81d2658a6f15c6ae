import AdvNN

/// An experiment, as a user states it in a manifest (YAML or JSON; docs/manifest.md documents every
/// key). Decoding fills in every default, and `metrics.json` echoes the result, so a run always records
/// exactly what it did.
public struct ExperimentManifest: Codable, Sendable, Equatable {
    /// A name for the run (default: the manifest's file name without extension).
    public var name: String
    /// The seed every random draw of the run derives from.
    public var seed: UInt64
    /// An entry of `Registries.datasets` with its keys.
    public var dataset: PartSpec
    public var model: ModelSection
    /// Training; nil when the model's weights come from a file and are evaluated as they are.
    public var train: TrainingConfig?
    /// How each training step uses its batch: an entry of `Registries.trainingMethods` (`train.method`)
    /// with its inner attack's keys (`train.attack`).
    public var trainingMethod: PartSpec
    /// Robust self-training: the unlabelled pool and its teacher; nil: labelled data only.
    public var selfTraining: SelfTrainingSpec?
    public var threatModel: ThreatModel
    /// An entry of `Registries.defenses`, in front of the model.
    public var defense: PartSpec?
    /// An entry of `Registries.detectors`, beside the model.
    public var detector: PartSpec?
    public var evaluation: EvaluationSpec
}

/// The model: an architecture to build (and train), or weights to load.
public struct ModelSection: Codable, Sendable, Equatable {
    /// An entry of `Registries.architectures` with its options; nil when the model comes from `weights`.
    public var architecture: PartSpec?
    /// A `model.safetensors` to start from (evaluated as is when there is no `train` section), or
    /// `job:<id>` for a daemon job's model.
    public var weights: String?

    public init(architecture: PartSpec?, weights: String?) {
        self.architecture = architecture
        self.weights = weights
    }
}

/// How to evaluate.
public struct EvaluationSpec: Codable, Sendable, Equatable {
    /// Evaluate on the first N test examples (default: all).
    public var examples: Int?
    public var batchSize: Int
    /// The battery: entries of `Registries.attacks`, run as a cascade in this order.
    public var attacks: [PartSpec]
    public var epsilonCurve: [Float]
    public var sanityChecks: SanityCheckOptions
}

/// The registries a manifest is read and run with: one per kind of experiment part. `standard` holds
/// what advd ships; a test or a plug-in adds entries to a copy.
public struct Registries: Sendable {
    public var attacks: AttackRegistry = .standard
    public var defenses: DefenseRegistry = .standard
    public var detectors: DetectorRegistry = .standard
    public var trainingMethods: TrainingMethodRegistry = .standard
    public var datasets: DatasetRegistry = .standard
    public var architectures: ArchitectureRegistry = .standard
    public var optimizers: OptimizerRegistry = .standard
    public var schedules: ScheduleRegistry = .standard

    public static let standard = Registries()
    public init() {}
}

extension DatasetRecipe {
    /// What a defense in front of a model of this data is checked against.
    func defenseContext(name: String) -> DefenseContext { DefenseContext(datasetName: name, hasImageInputs: hasImageInputs) }
}
