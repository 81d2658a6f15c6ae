import AdvNN

/// An experiment, as a user states it in a manifest (YAML or JSON; docs/manifest.md documents every
/// key). Decoding fills in every default, and `metrics.json` echoes the result, so a run always records
/// exactly what it did.
public struct ExperimentManifest: Codable, Sendable, Equatable {
    /// A name for the run (default: the manifest's file name without extension).
    public var name: String
    /// The seed every random draw of the run derives from.
    public var seed: UInt64
    public var dataset: DatasetSpec
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

/// Which data to use.
public struct DatasetSpec: Codable, Sendable, Equatable {
    /// `fashion-mnist`, `mnist`, `idx`, `cifar10`, `tsipras`, `blobs`.
    public var name: String
    /// Folder of the files (fashion-mnist defaults to Debian's package folder).
    public var path: String?
    /// Use only the first N training / test examples.
    public var trainExamples: Int?
    public var testExamples: Int?
    /// `tsipras`: d, p, η; `blobs`: classes, dimensions, separation, spread.
    public var dimensions: Int?
    public var p: Float?
    public var eta: Float?
    public var classes: Int?
    public var separation: Float?
    public var spread: Float?

    public static let names = ["fashion-mnist", "mnist", "idx", "cifar10", "tsipras", "blobs"]

    public init(name: String) {
        self.name = name
    }

    /// The number of classes, known before any file is read.
    var classCount: Int {
        switch name {
        case "tsipras": return 2
        case "blobs": return classes ?? 4
        default: return 10
        }
    }

    /// Whether inputs live in [0, 1] (images) rather than being unbounded (synthetic sets).
    var isBounded: Bool { !isSynthetic }
    /// Whether examples are drawn from a seed rather than read from files.
    var isSynthetic: Bool { name == "tsipras" || name == "blobs" }

    /// Loads the data, trimmed to the requested sizes.
    /// - Throws: `DatasetError` naming the file or folder.
    public func load(seed: UInt64) throws -> Dataset {
        trimmed(try loadUntrimmed(seed: seed))
    }

    /// The data as `train_examples` and `test_examples` ask.
    public func trimmed(_ full: Dataset) -> Dataset {
        var data = full
        if let trainExamples { data.train = data.train.prefix(trainExamples) }
        if let testExamples { data.test = data.test.prefix(testExamples) }
        return data
    }

    /// The data with every example its files hold (self-training's pool may lie beyond `train_examples`);
    /// a synthetic set draws at least `trainingExamplesNeeded` training examples.
    /// - Throws: `DatasetError` naming the file or folder.
    public func loadUntrimmed(seed: UInt64, trainingExamplesNeeded: Int = 0) throws -> Dataset {
        let syntheticTrainCount = max(trainExamples ?? 10_000, trainingExamplesNeeded)
        let data: Dataset
        switch name {
        case "fashion-mnist": data = try Dataset.fashionMNIST(folder: path ?? Dataset.fashionMNISTFolder)
        case "mnist", "idx": data = try Dataset.idx(name: name, folder: path ?? "")
        case "cifar10": data = try Dataset.cifar10(folder: path ?? "")
        case "tsipras":
            data = Dataset.tsipras(dimensions: dimensions ?? 1000, p: p ?? 0.95, eta: eta ?? 0.1,
                                   trainCount: syntheticTrainCount, testCount: testExamples ?? 2_000, seed: seed)
        default:
            data = Dataset.gaussianBlobs(classes: classes ?? 4, dimensions: dimensions ?? 20, separation: separation ?? 2,
                                         spread: spread ?? 1, trainCount: syntheticTrainCount,
                                         testCount: testExamples ?? 2_000, seed: seed)
        }
        return data
    }
}

/// The model: an architecture to build (and train), or weights to load.
public struct ModelSection: Codable, Sendable, Equatable {
    public var architecture: String
    public var hidden: [Int]?
    public var widths: [Int]?
    public var blocksPerStage: Int?
    /// A `model.safetensors` to start from (evaluated as is when there is no `train` section).
    public var weights: String?

    func spec(for data: Dataset) -> ModelSpec {
        ModelSpec(architecture: architecture, inputShape: data.itemShape, classes: data.classCount,
                  hidden: hidden ?? (architecture == "mlp" ? [256, 256] : nil), widths: widths, blocksPerStage: blocksPerStage)
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

    public static let standard = Registries()
    public init() {}
}

extension DatasetSpec {
    /// What a defense in front of a model of this data is checked against.
    var defenseContext: DefenseContext { DefenseContext(datasetName: name, hasImageInputs: isBounded) }
}
