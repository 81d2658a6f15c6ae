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
    /// How each training step uses its batch (standard or adversarial training).
    public var trainingMethod: TrainingMethodSpec
    /// Robust self-training: the unlabelled pool and its teacher; nil: labelled data only.
    public var selfTraining: SelfTrainingSpec?
    public var threatModel: ThreatModel
    public var defense: DefenseSpec?
    public var detector: DetectorSpec?
    public var evaluation: EvaluationSpec
}

/// The training method: `standard`, `pgd-at`, `fast-at`, `free-at` or `trades`, with the inner attack.
public struct TrainingMethodSpec: Codable, Sendable, Equatable {
    public var name: String
    /// `pgd-at`: the attack's radius (default: the threat model's), steps, step size (default ε/4),
    /// random start, loss (`ce` or `cw`) and the epochs over which ε warms up from 0.
    public var epsilon: Float?
    public var steps: Int
    public var stepSize: Float?
    public var randomStart: Bool
    public var loss: String
    public var warmupEpochs: Double
    /// `trades`: the weight β of the KL term.
    public var beta: Float
    /// `free-at`: how many times each minibatch is replayed (m).
    public var replays: Int

    public static let names = ["standard", "pgd-at", "fast-at", "free-at", "trades"]
    public static let standard = TrainingMethodSpec(name: "standard", epsilon: nil, steps: 10, stepSize: nil,
                                                    randomStart: true, loss: "ce", warmupEpochs: 0, beta: 6, replays: 8)

    /// The method for a run under `threatModel`.
    public func make(threatModel: ThreatModel) -> any TrainingMethod {
        let radius = epsilon ?? threatModel.epsilon
        switch name {
        case "trades": return TRADES(threatModel: threatModel.withEpsilon(radius), beta: beta, steps: steps, stepSize: stepSize)
        case "fast-at": return PGDTraining.fast(threatModel: threatModel.withEpsilon(radius))
        case "free-at": return FreeTraining(threatModel: threatModel.withEpsilon(radius), replays: replays)
        case "pgd-at": break
        default: return StandardTraining()
        }
        let attack = PGD(threatModel: threatModel.withEpsilon(radius), stepSize: stepSize ?? radius / 4, steps: steps,
                         randomStart: randomStart, loss: loss == "cw" ? .carliniWagner(confidence: 0) : .crossEntropy)
        return PGDTraining(attack: attack, warmupEpochs: warmupEpochs)
    }
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

/// A defense placed in front of the model.
public struct DefenseSpec: Codable, Sendable, Equatable {
    /// `bit-depth`, `median-filter`, `gaussian-noise`, `random-dropping` or `resize-pad`.
    public var name: String
    public var bits: Int?
    public var size: Int?
    public var sigma: Float?
    public var rate: Float?
    public var maximumShrink: Int?

    public static let names = ["bit-depth", "median-filter", "gaussian-noise", "random-dropping", "resize-pad"]

    public init(name: String, bits: Int? = nil, size: Int? = nil, sigma: Float? = nil, rate: Float? = nil,
                maximumShrink: Int? = nil) {
        self.name = name
        self.bits = bits
        self.size = size
        self.sigma = sigma
        self.rate = rate
        self.maximumShrink = maximumShrink
    }

    public func make() -> any InputDefense {
        switch name {
        case "bit-depth": return BitDepthReduction(bits: bits ?? 1)
        case "median-filter": return MedianFilter(size: size ?? 3)
        case "gaussian-noise": return GaussianNoise(sigma: sigma ?? 0.1)
        case "resize-pad": return RandomResizePad(maximumShrink: maximumShrink ?? 4)
        default: return RandomDropping(rate: rate ?? 0.5)
        }
    }

    var isRandomized: Bool { !["bit-depth", "median-filter"].contains(name) }
    /// Whether the defense needs image inputs (N, C, H, W).
    var needsImages: Bool { ["median-filter", "resize-pad"].contains(name) }
}

/// A detector beside the model: an attack succeeds only with a misclassified input it accepts.
public struct DetectorSpec: Codable, Sendable, Equatable {
    /// `max-softmax` or `activation-statistics`.
    public var name: String
    /// Fraction of clean inputs the detector may reject; its threshold is calibrated to it.
    public var falsePositiveRate: Double
    /// Clean training examples used to calibrate (and, for activation-statistics, to train) it.
    public var trainExamples: Int

    public static let names = ["max-softmax", "activation-statistics"]

    public init(name: String, falsePositiveRate: Double = 0.05, trainExamples: Int = 1000) {
        self.name = name
        self.falsePositiveRate = falsePositiveRate
        self.trainExamples = trainExamples
    }

    /// Builds the detector for a trained model: calibrated on the first training examples; the
    /// activation-statistics classifier learns to separate them from minimal-margin PGD examples
    /// (CW loss, κ = 0, 20 steps) under the run's threat model.
    public func make(model: ModelClassifier, data: Dataset, threatModel: ThreatModel, seed: UInt64) -> any Detector {
        let (clean, labels) = data.train.prefix(trainExamples).batch(0..<min(trainExamples, data.train.count))
        guard name == "activation-statistics" else {
            return MaxSoftmaxDetector.calibrated(on: clean, model: model.model, falsePositiveRate: falsePositiveRate)
        }
        var rng = RandomStream(seed: seed, purpose: "detector.training")
        let adversarial = PGD(threatModel: threatModel, steps: 20, loss: .carliniWagner(confidence: 0))
            .perturb(clean, labels: labels, against: model, using: &rng).adversarial
        return ActivationStatisticsDetector.trained(clean: clean, adversarial: adversarial, model: model.model,
                                                    falsePositiveRate: falsePositiveRate)
    }
}

/// One attack of the battery, with every hyperparameter.
public struct AttackSpec: Codable, Sendable, Equatable {
    /// `pgd`, `fgsm`, `apgd` or `square`.
    public var name: String
    public var steps: Int
    public var stepSize: Float
    public var restarts: Int
    public var randomStart: Bool
    /// `ce` or `cw` (pgd, fgsm); `ce` or `dlr` (apgd).
    public var loss: String
    /// κ for the `cw` loss.
    public var confidence: Float
    /// `untargeted`, `target`, `least-likely`, `multi-targeted`.
    public var goal: String
    public var target: Int?
    /// `direct`, `bpda`, `eot`, `bpda+eot`.
    public var gradients: String
    public var eotSamples: Int
    /// `square`: queries and the initial fraction of the image a square covers.
    public var queries: Int
    public var pInit: Float

    public static let names = ["pgd", "fgsm", "apgd", "square"]

    /// The attack this specification describes under `threatModel`, with its gradient estimation.
    public func entry(threatModel: ThreatModel) -> BatteryEntry {
        let attackLoss: AttackLoss = loss == "cw" ? .carliniWagner(confidence: confidence) : .crossEntropy
        let attackGoal: AttackGoal
        switch goal {
        case "target": attackGoal = .targetClass(target ?? 0)
        case "least-likely": attackGoal = .leastLikely
        case "multi-targeted": attackGoal = .multiTargeted
        default: attackGoal = .untargeted
        }
        let estimation: GradientEstimation
        switch gradients {
        case "bpda": estimation = .bpda
        case "eot": estimation = .eot(samples: eotSamples)
        case "bpda+eot": estimation = .bpdaEOT(samples: eotSamples)
        default: estimation = .direct
        }
        let attack: any Attack
        switch name {
        case "fgsm": attack = FGSM(threatModel: threatModel, loss: attackLoss, goal: attackGoal)
        case "apgd": attack = APGD(threatModel: threatModel, steps: steps, restarts: restarts,
                                   loss: loss == "dlr" ? .dlr : .crossEntropy, goal: attackGoal)
        case "square": attack = SquareAttack(threatModel: threatModel, queries: queries, initialFraction: pInit)
        default: attack = PGD(threatModel: threatModel, stepSize: stepSize, steps: steps, randomStart: randomStart,
                              restarts: restarts, loss: attackLoss, goal: attackGoal)
        }
        return BatteryEntry(attack, gradients: estimation)
    }
}

/// How to evaluate.
public struct EvaluationSpec: Codable, Sendable, Equatable {
    /// Evaluate on the first N test examples (default: all).
    public var examples: Int?
    public var batchSize: Int
    public var attacks: [AttackSpec]
    public var epsilonCurve: [Float]
    public var sanityChecks: SanityCheckOptions
}
