import AdvNN
import Foundation

/// Reading a manifest: every key is checked against the schema, every value against its type and
/// range, and impossible combinations are explained, each error naming the key path and line.
extension ExperimentManifest {
    /// Parses a manifest file.
    /// - Throws: `ManifestError`; a missing or unreadable file is reported as one too.
    public static func load(path: String, registries: Registries = .standard) throws -> ExperimentManifest {
        let source = Self.source(ofPath: path)
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ManifestError(source: path, path: "", line: nil, message: "cannot read the file (missing, unreadable or not UTF-8)")
        }
        let defaultName = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        return try parse(yaml: text, source: source, defaultName: defaultName, registries: registries)
    }

    /// How errors name the manifest at `path`: its file name.
    public static func source(ofPath path: String) -> String {
        (path as NSString).lastPathComponent
    }

    /// Parses manifest text (YAML, or JSON, which is YAML too); attacks, defenses, detectors and
    /// training methods are looked up in `registries`.
    public static func parse(yaml: String, source: String, defaultName: String = "experiment",
                             registries: Registries = .standard) throws -> ExperimentManifest {
        let root = try ManifestNode.document(yaml: yaml, source: source)
        let top = try root.mapping(allowed: ["name", "seed", "dataset", "model", "train", "threat_model", "defense", "detector",
                                             "evaluation", "sweep"])
        if let sweep = top["sweep"] {
            throw sweep.error("this manifest is a sweep (one experiment per point of its grid); submit it to the daemon with advctl submit or the spool, or remove the sweep block to run one experiment")
        }
        let seed = try top["seed"].map { UInt64(try $0.int(in: 0...Int.max)) } ?? 0
        let dataset = try registries.datasets.decode(try top.required("dataset"), context: NoContext())
        let data = try registries.datasets.make(dataset, context: NoContext())
        let defenseContext = data.defenseContext(name: dataset.name)
        let defense = try top["defense"].map { try registries.defenses.decode($0, context: defenseContext) }
        let defenseTraits = try defense.map { try registries.defenses.traits(of: $0, context: defenseContext) }
        let threatModel = try decodeThreatModel(try top.required("threat_model"), data: data)
        let trainingMethod = try decodeTrainingMethod(top["train"], threatModel: threatModel, registry: registries.trainingMethods)
        let isStandardTraining = try registries.trainingMethods.make(trainingMethod, context: TrainingMethodContext(threatModel: threatModel))
            is StandardTraining
        let manifest = ExperimentManifest(
            name: try top["name"].map(decodeName) ?? defaultName,
            seed: seed,
            dataset: dataset,
            model: try decodeModel(try top.required("model"), registry: registries.architectures),
            train: try top["train"].map { try decodeTraining($0, seed: seed, registries: registries) },
            trainingMethod: trainingMethod,
            selfTraining: try top["train"]?.mapping(allowed: trainingKeys)["self_training"].map {
                try decodeSelfTraining($0, dataset: dataset, data: data, isStandardTraining: isStandardTraining)
            },
            threatModel: threatModel,
            defense: defense,
            detector: try top["detector"].map { try registries.detectors.decode($0, context: NoContext()) },
            evaluation: try decodeEvaluation(try top.required("evaluation"), registry: registries.attacks,
                                             context: AttackContext(threatModel: threatModel, classes: data.classCount,
                                                                    defense: defenseTraits)))
        if manifest.train == nil && manifest.model.weights == nil {
            throw ManifestError(source: source, path: "train", line: root.line,
                                message: "missing: without model.weights there is nothing to evaluate, so a train section is required")
        }
        if manifest.train != nil && manifest.model.architecture == nil {
            throw try top.required("model").error("training builds a model: name its architecture (weights only initialise it)")
        }
        return manifest
    }

    /// `model`: an architecture (`architecture` names an entry of the registry; its options sit beside
    /// it), or `weights` to load, or both (fine-tuning).
    private static func decodeModel(_ node: ManifestNode, registry: ArchitectureRegistry) throws -> ModelSection {
        let map = try node.mapping(allowed: ["architecture", "weights"] + registry.allKeyNames)
        let weights = try map["weights"].map(decodeWeights)
        guard let nameNode = weights == nil ? try map.required("architecture") : map["architecture"] else {
            if let option = map.keys.first(where: { $0 != "weights" }) {
                throw map[option]!.error("\(option) is an option of an architecture; name the architecture too")
            }
            return ModelSection(architecture: nil, weights: weights)
        }
        let entry = registry.entry(named: try nameNode.string(oneOf: registry.names))!
        let architecture = try registry.decode(entry, from: map, node: node, context: NoContext(), ignoring: ["architecture", "weights"])
        return ModelSection(architecture: architecture, weights: weights)
    }

    /// A run's name names its folders (`runs/<name>`, the job folder's manifest): 1–100 letters, digits,
    /// `-`, `_` or `.`, not starting with `.`.
    private static func decodeName(_ node: ManifestNode) throws -> String {
        let name = try node.string()
        let allowed = name.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || "-_.".contains($0) }
        guard (1...100).contains(name.count), allowed, !name.hasPrefix(".") else {
            let shown = name.count > 60 ? "\(name.prefix(60))… (\(name.count) characters)" : name
            throw node.error("expected 1–100 letters, digits, '-', '_' or '.', not starting with '.', got \"\(shown)\"")
        }
        return name
    }

    /// A weights file: a path, or `job:<id>` for the model of a daemon job.
    private static func decodeWeights(_ node: ManifestNode) throws -> String {
        let value = try node.string()
        if value.hasPrefix("job:") && WeightsReference.jobID(value) == nil {
            throw node.error("expected job:<id> with a positive job id, or a path, got \"\(value)\"")
        }
        return value
    }

    private static func decodeTraining(_ node: ManifestNode, seed: UInt64, registries: Registries) throws -> TrainingConfig {
        let map = try node.mapping(allowed: trainingKeys)
        var config = TrainingConfig()
        config.seed = seed
        config.epochs = try map["epochs"]?.int(in: 1...100_000) ?? config.epochs
        config.batchSize = try map["batch_size"]?.int(in: 1...1_000_000) ?? config.batchSize
        config.checkpointEverySteps = try map["checkpoint_every"]?.int(in: 1...100_000_000)
        config.evaluationExamples = try map["evaluation_examples"]?.int(in: 1...10_000_000)
        config.frozenLayers = try map["freeze"]?.list().map { try $0.int(in: 0...10_000) }
        if let optimizer = map["optimizer"] {
            config.optimizer = try registries.optimizers.make(try registries.optimizers.decode(optimizer, context: NoContext()),
                                                              context: NoContext())
        }
        if let schedule = map["schedule"] {
            config.schedule = try registries.schedules.make(try registries.schedules.decode(schedule, context: NoContext()),
                                                            context: NoContext())
        }
        if let selfTraining = map["self_training"] {
            let section = try selfTraining.mapping(allowed: selfTrainingKeys)
            config.pseudoLabeled = PseudoLabelMixing(ratio: try section["ratio"]?.int(in: 1...100) ?? 1,
                                                     weight: try section["weight"]?.float(in: 0...100, lowerIsOpen: true) ?? 1)
        }
        if let averaging = map["weight_averaging"] {
            let section = try averaging.mapping(allowed: ["decay"])
            config.weightAveraging = WeightAveraging(decay: try section.required("decay").float(in: 0...0.999999, lowerIsOpen: true))
        }
        if let augmentation = map["augmentation"] {
            let section = try augmentation.mapping(allowed: ["crop_padding", "horizontal_flip"])
            guard !section.keys.isEmpty else { throw augmentation.error("expected crop_padding, horizontal_flip or both") }
            config.augmentation = ImageAugmentation(cropPadding: try section["crop_padding"]?.int(in: 0...64) ?? 0,
                                                    horizontalFlip: try section["horizontal_flip"]?.bool() ?? false)
        }
        return config
    }

    static let trainingKeys = ["method", "attack", "epochs", "batch_size", "optimizer", "schedule", "checkpoint_every",
                               "evaluation_examples", "freeze", "self_training", "weight_averaging", "augmentation"]
    static let selfTrainingKeys = ["pool", "teacher", "ratio", "weight"]

    /// train.self_training: the pool and the teacher (ratio and weight go to the training config).
    private static func decodeSelfTraining(_ node: ManifestNode, dataset: PartSpec, data: DatasetRecipe,
                                           isStandardTraining: Bool) throws -> SelfTrainingSpec {
        let map = try node.mapping(allowed: selfTrainingKeys)
        if isStandardTraining {
            throw node.error("self-training pseudo-labels a pool for adversarial training: set train.method to pgd-at, fast-at, free-at, trades or atta")
        }
        let poolNode = try map.required("pool")
        let pool = try poolNode.mapping(allowed: ["from", "count", "images"])
        let source: SelfTrainingSpec.Pool
        if let images = pool["images"] {
            if let other = pool["from"] ?? pool["count"] { throw other.error("a pool is either images (a file) or from/count (training examples), not both") }
            source = .images(path: try images.string())
        } else {
            guard let labeled = dataset.optionalInt("train_examples") else {
                throw poolNode.error("every training example is labelled; set dataset.train_examples to keep the rest unlabelled, or give pool.images")
            }
            let from = try pool["from"]?.int(in: 0...10_000_000) ?? labeled
            if from < labeled {
                throw pool["from"]!.error("the pool would hold labelled examples: from (\(from)) must be at least dataset.train_examples (\(labeled))")
            }
            let count = try pool["count"]?.int(in: 1...10_000_000)
            if count == nil && data.isSynthetic {
                throw poolNode.error("\(dataset.name) draws as many examples as asked: give pool.count, the number of unlabelled examples")
            }
            source = .trainingSplit(from: from, count: count)
        }
        var spec = SelfTrainingSpec(pool: source)
        if let teacherNode = map["teacher"] {
            let teacher = try teacherNode.mapping(allowed: ["epochs", "weights"])
            if teacher["weights"] != nil, let epochs = teacher["epochs"] {
                throw epochs.error("the teacher is either trained (epochs) or loaded (weights), not both")
            }
            spec.teacherWeights = try teacher["weights"].map(decodeWeights)
            spec.teacherEpochs = try teacher["epochs"]?.int(in: 1...100_000) ?? spec.teacherEpochs
        }
        return spec
    }

    /// The method (`train.method`, an entry of the training-method registry) and its inner attack's
    /// keys (`train.attack`); standard training without a train section.
    private static func decodeTrainingMethod(_ node: ManifestNode?, threatModel: ThreatModel,
                                             registry: TrainingMethodRegistry) throws -> PartSpec {
        let context = TrainingMethodContext(threatModel: threatModel)
        guard let node else { return try registry.decode(defaultOf: registry.entries[0], context: context) }
        let map = try node.mapping(allowed: trainingKeys)
        let methodNode = map["method"]
        let name = try methodNode?.string(oneOf: registry.names) ?? registry.entries[0].name
        let entry = registry.entry(named: name)!
        guard let attackNode = map["attack"] else { return try registry.decode(defaultOf: entry, context: context) }
        if entry.keys.isEmpty {
            throw attackNode.error("attack applies to adversarial training (\(registry.names.dropFirst().joined(separator: ", "))), not \(name)")
        }
        return try registry.decode(entry, from: try attackNode.mapping(allowed: registry.allKeyNames), node: attackNode,
                                   context: context, ignoring: [])
    }

    private static func decodeThreatModel(_ node: ManifestNode, data: DatasetRecipe) throws -> ThreatModel {
        let map = try node.mapping(allowed: ["norm", "epsilon"])
        let norm = Norm(rawValue: try map.required("norm").string(oneOf: Norm.allCases.map(\.rawValue)))!
        let epsilonNode = try map.required("epsilon")
        let upper: Double = norm == .linf && data.hasImageInputs ? 1 : 1e6
        let epsilon = try epsilonNode.float(in: 0...upper, lowerIsOpen: true)
        return ThreatModel(norm: norm, epsilon: epsilon, valueRange: data.hasImageInputs ? 0...1 : nil)
    }

    private static func decodeEvaluation(_ node: ManifestNode, registry: AttackRegistry, context: AttackContext) throws -> EvaluationSpec {
        let threatModel = context.threatModel
        let map = try node.mapping(allowed: ["examples", "batch_size", "attacks", "epsilon_curve", "sanity_checks"])
        let attacksNode = try map.required("attacks")
        let attacks = try attacksNode.list().map { try registry.decode($0, context: context) }
        guard !attacks.isEmpty else { throw attacksNode.error("the battery is empty: list at least one attack") }
        let upper: Double = threatModel.norm == .linf && threatModel.lowerBound != nil ? 1 : 1e6
        return EvaluationSpec(
            examples: try map["examples"]?.int(in: 1...10_000_000),
            batchSize: try map["batch_size"]?.int(in: 1...100_000) ?? 256,
            attacks: attacks,
            epsilonCurve: try map["epsilon_curve"]?.list().map { try $0.float(in: 0...upper, lowerIsOpen: true) } ?? [],
            sanityChecks: try map["sanity_checks"].map(decodeSanityChecks) ?? SanityCheckOptions())
    }

    private static func decodeSanityChecks(_ node: ManifestNode) throws -> SanityCheckOptions {
        var options = SanityCheckOptions()
        if case .scalar = node.node {
            options.enabled = try node.bool()
            return options
        }
        let map = try node.mapping(allowed: ["enabled", "probe_examples", "large_epsilon", "convergence_factor", "zero_gradient_fraction"])
        options.enabled = try map["enabled"]?.bool() ?? true
        options.probeExamples = try map["probe_examples"]?.int(in: 1...100_000) ?? options.probeExamples
        options.largeEpsilon = try map["large_epsilon"]?.float(in: 0...1e6, lowerIsOpen: true)
        options.convergenceFactor = try map["convergence_factor"]?.int(in: 2...100) ?? options.convergenceFactor
        options.zeroGradientFraction = try map["zero_gradient_fraction"].map { Double(try $0.float(in: 0...1)) } ?? options.zeroGradientFraction
        return options
    }
}
