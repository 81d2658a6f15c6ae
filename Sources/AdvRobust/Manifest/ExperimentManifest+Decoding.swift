import AdvNN
import Foundation

/// Reading a manifest: every key is checked against the schema, every value against its type and
/// range, and impossible combinations are explained, each error naming the key path and line.
extension ExperimentManifest {
    /// Parses a manifest file.
    /// - Throws: `ManifestError`; a missing or unreadable file is reported as one too.
    public static func load(path: String, registries: Registries = .standard) throws -> ExperimentManifest {
        let source = (path as NSString).lastPathComponent
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ManifestError(source: path, path: "", line: nil, message: "cannot read the file (missing, unreadable or not UTF-8)")
        }
        let defaultName = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        return try parse(yaml: text, source: source, defaultName: defaultName, registries: registries)
    }

    /// Parses manifest text (YAML, or JSON, which is YAML too); attacks, defenses, detectors and
    /// training methods are looked up in `registries`.
    public static func parse(yaml: String, source: String, defaultName: String = "experiment",
                             registries: Registries = .standard) throws -> ExperimentManifest {
        let root = try ManifestNode.document(yaml: yaml, source: source)
        let top = try root.mapping(allowed: ["name", "seed", "dataset", "model", "train", "threat_model", "defense", "detector",
                                             "evaluation"])
        let seed = try top["seed"].map { UInt64(try $0.int(in: 0...Int.max)) } ?? 0
        let dataset = try decodeDataset(try top.required("dataset"))
        let defense = try top["defense"].map { try registries.defenses.decode($0, context: dataset.defenseContext) }
        let defenseTraits = try defense.map { try registries.defenses.traits(of: $0, context: dataset.defenseContext) }
        let threatModel = try decodeThreatModel(try top.required("threat_model"), dataset: dataset)
        let trainingMethod = try decodeTrainingMethod(top["train"], threatModel: threatModel, registry: registries.trainingMethods)
        let isStandardTraining = try registries.trainingMethods.make(trainingMethod, context: TrainingMethodContext(threatModel: threatModel))
            is StandardTraining
        let manifest = ExperimentManifest(
            name: try top["name"]?.string() ?? defaultName,
            seed: seed,
            dataset: dataset,
            model: try decodeModel(try top.required("model")),
            train: try top["train"].map { try decodeTraining($0, seed: seed) },
            trainingMethod: trainingMethod,
            selfTraining: try top["train"]?.mapping(allowed: trainingKeys)["self_training"].map {
                try decodeSelfTraining($0, dataset: dataset, isStandardTraining: isStandardTraining)
            },
            threatModel: threatModel,
            defense: defense,
            detector: try top["detector"].map { try registries.detectors.decode($0, context: NoContext()) },
            evaluation: try decodeEvaluation(try top.required("evaluation"), registry: registries.attacks,
                                             context: AttackContext(threatModel: threatModel, classes: dataset.classCount,
                                                                    defense: defenseTraits)))
        if manifest.train == nil && manifest.model.weights == nil {
            throw ManifestError(source: source, path: "train", line: root.line,
                                message: "missing: without model.weights there is nothing to evaluate, so a train section is required")
        }
        return manifest
    }

    private static func decodeDataset(_ node: ManifestNode) throws -> DatasetSpec {
        let map = try node.mapping(allowed: ["name", "path", "train_examples", "test_examples", "dimensions", "p", "eta",
                                             "classes", "separation", "spread"])
        let nameNode = try map.required("name")
        let name = try nameNode.string(oneOf: DatasetSpec.names)
        var spec = DatasetSpec(name: name)
        spec.path = try map["path"]?.string()
        spec.trainExamples = try map["train_examples"]?.int(in: 1...10_000_000)
        spec.testExamples = try map["test_examples"]?.int(in: 1...10_000_000)
        spec.dimensions = try map["dimensions"]?.int(in: 2...1_000_000)
        spec.p = try map["p"]?.float(in: 0...1, lowerIsOpen: true)
        spec.eta = try map["eta"]?.float(in: 0...1000, lowerIsOpen: true)
        spec.classes = try map["classes"]?.int(in: 2...1000)
        spec.separation = try map["separation"]?.float(in: 0...1e6, lowerIsOpen: true)
        spec.spread = try map["spread"]?.float(in: 0...1e6, lowerIsOpen: true)
        if ["mnist", "idx", "cifar10"].contains(name) && spec.path == nil {
            throw nameNode.error("the \(name) dataset needs a path: the folder of its files")
        }
        let synthetic: [String: [String]] = ["tsipras": ["dimensions", "p", "eta"], "blobs": ["dimensions", "classes", "separation", "spread"]]
        for key in ["dimensions", "p", "eta", "classes", "separation", "spread"] where map[key] != nil {
            guard synthetic[name]?.contains(key) == true else { throw map[key]!.error("\(key) applies to synthetic datasets (tsipras, blobs), not \(name)") }
        }
        return spec
    }

    private static func decodeModel(_ node: ManifestNode) throws -> ModelSection {
        let map = try node.mapping(allowed: ["architecture", "hidden", "widths", "blocks_per_stage", "weights"])
        let weights = try map["weights"].map(decodeWeights)
        let architectureNode = weights == nil ? try map.required("architecture") : map["architecture"]
        let architecture = try architectureNode?.string(oneOf: ModelSpec.architectures) ?? ""
        func sizes(_ key: String) throws -> [Int]? {
            try map[key]?.list().map { try $0.int(in: 1...1_000_000) }
        }
        let hidden = try sizes("hidden")
        if let node = map["hidden"], architecture != "mlp" { throw node.error("hidden applies to the mlp architecture, not \(architecture)") }
        let widths = try sizes("widths")
        if let node = map["widths"], architecture != "preact-resnet" { throw node.error("widths applies to preact-resnet, not \(architecture)") }
        return ModelSection(architecture: architecture, hidden: hidden, widths: widths,
                            blocksPerStage: try map["blocks_per_stage"]?.int(in: 1...64), weights: weights)
    }

    /// A weights file: a path, or `job:<id>` for the model of a daemon job.
    private static func decodeWeights(_ node: ManifestNode) throws -> String {
        let value = try node.string()
        if value.hasPrefix("job:") && WeightsReference.jobID(value) == nil {
            throw node.error("expected job:<id> with a positive job id, or a path, got \"\(value)\"")
        }
        return value
    }

    private static func decodeTraining(_ node: ManifestNode, seed: UInt64) throws -> TrainingConfig {
        let map = try node.mapping(allowed: trainingKeys)
        var config = TrainingConfig()
        config.seed = seed
        config.epochs = try map["epochs"]?.int(in: 1...100_000) ?? config.epochs
        config.batchSize = try map["batch_size"]?.int(in: 1...1_000_000) ?? config.batchSize
        config.checkpointEverySteps = try map["checkpoint_every"]?.int(in: 1...100_000_000)
        config.evaluationExamples = try map["evaluation_examples"]?.int(in: 1...10_000_000)
        config.frozenLayers = try map["freeze"]?.list().map { try $0.int(in: 0...10_000) }
        if let optimizer = map["optimizer"] { config.optimizer = try decodeOptimizer(optimizer) }
        if let schedule = map["schedule"] { config.schedule = try decodeSchedule(schedule) }
        if let selfTraining = map["self_training"] {
            let section = try selfTraining.mapping(allowed: selfTrainingKeys)
            config.pseudoLabeled = PseudoLabelMixing(ratio: try section["ratio"]?.int(in: 1...100) ?? 1,
                                                     weight: try section["weight"]?.float(in: 0...100, lowerIsOpen: true) ?? 1)
        }
        return config
    }

    static let trainingKeys = ["method", "attack", "epochs", "batch_size", "optimizer", "schedule", "checkpoint_every",
                               "evaluation_examples", "freeze", "self_training"]
    static let selfTrainingKeys = ["pool", "teacher", "ratio", "weight"]

    /// train.self_training: the pool and the teacher (ratio and weight go to the training config).
    private static func decodeSelfTraining(_ node: ManifestNode, dataset: DatasetSpec, isStandardTraining: Bool) throws -> SelfTrainingSpec {
        let map = try node.mapping(allowed: selfTrainingKeys)
        if isStandardTraining {
            throw node.error("self-training pseudo-labels a pool for adversarial training: set train.method to pgd-at, fast-at, free-at or trades")
        }
        let poolNode = try map.required("pool")
        let pool = try poolNode.mapping(allowed: ["from", "count", "images"])
        let source: SelfTrainingSpec.Pool
        if let images = pool["images"] {
            if let other = pool["from"] ?? pool["count"] { throw other.error("a pool is either images (a file) or from/count (training examples), not both") }
            source = .images(path: try images.string())
        } else {
            guard let labeled = dataset.trainExamples else {
                throw poolNode.error("every training example is labelled; set dataset.train_examples to keep the rest unlabelled, or give pool.images")
            }
            let from = try pool["from"]?.int(in: 0...10_000_000) ?? labeled
            if from < labeled {
                throw pool["from"]!.error("the pool would hold labelled examples: from (\(from)) must be at least dataset.train_examples (\(labeled))")
            }
            let count = try pool["count"]?.int(in: 1...10_000_000)
            if count == nil && dataset.isSynthetic {
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

    private static func decodeOptimizer(_ node: ManifestNode) throws -> OptimizerConfig {
        let map = try node.mapping(allowed: ["name", "lr", "momentum", "nesterov", "weight_decay", "beta1", "beta2"])
        var config = OptimizerConfig()
        let nameNode = try map.required("name")
        config.kind = OptimizerConfig.Kind(rawValue: try nameNode.string(oneOf: ["sgd", "adam", "adamw"]))!
        config.learningRate = try map["lr"]?.float(in: 0...10, lowerIsOpen: true) ?? (config.kind == .sgd ? 0.05 : 0.001)
        config.momentum = try map["momentum"]?.float(in: 0...0.999_999) ?? (config.kind == .sgd ? 0.9 : 0)
        config.nesterov = try map["nesterov"]?.bool() ?? false
        config.weightDecay = try map["weight_decay"]?.float(in: 0...1) ?? 0
        config.beta1 = try map["beta1"]?.float(in: 0...0.999_999) ?? 0.9
        config.beta2 = try map["beta2"]?.float(in: 0...0.999_999_9) ?? 0.999
        if config.kind != .sgd, let node = map["momentum"] ?? map["nesterov"] { throw node.error("applies to sgd, not \(config.kind.rawValue)") }
        if config.kind == .sgd, let node = map["beta1"] ?? map["beta2"] { throw node.error("applies to adam and adamw, not sgd") }
        do { try config.validate() } catch { throw node.error("\(error)") }
        return config
    }

    private static func decodeSchedule(_ node: ManifestNode) throws -> LearningRateSchedule {
        let names = ["constant", "step", "cosine", "one-cycle"]
        if case .scalar = node.node {
            let name = try node.string(oneOf: names)
            guard name != "step" else { throw node.error("the step schedule needs milestones: write {name: step, milestones: [...]}") }
            return name == "constant" ? .constant : name == "cosine" ? .cosine(minimum: 0) : .oneCycle(peakFraction: 0.4)
        }
        let map = try node.mapping(allowed: ["name", "milestones", "gamma", "minimum", "peak_fraction"])
        switch try map.required("name").string(oneOf: names) {
        case "constant": return .constant
        case "step":
            let milestones = try map.required("milestones").list().map { try $0.int(in: 1...100_000) }
            return .step(milestones: milestones, gamma: try map["gamma"]?.float(in: 0...1, lowerIsOpen: true) ?? 0.1)
        case "cosine": return .cosine(minimum: try map["minimum"]?.float(in: 0...10) ?? 0)
        default: return .oneCycle(peakFraction: try map["peak_fraction"]?.float(in: 0...1, lowerIsOpen: true) ?? 0.4)
        }
    }

    private static func decodeThreatModel(_ node: ManifestNode, dataset: DatasetSpec) throws -> ThreatModel {
        let map = try node.mapping(allowed: ["norm", "epsilon"])
        let norm = Norm(rawValue: try map.required("norm").string(oneOf: Norm.allCases.map(\.rawValue)))!
        let epsilonNode = try map.required("epsilon")
        let upper: Double = norm == .linf && dataset.isBounded ? 1 : 1e6
        let epsilon = try epsilonNode.float(in: 0...upper, lowerIsOpen: true)
        return ThreatModel(norm: norm, epsilon: epsilon, valueRange: dataset.isBounded ? 0...1 : nil)
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
        options.zeroGradientFraction = Double(try map["zero_gradient_fraction"]?.float(in: 0...1) ?? Float(options.zeroGradientFraction))
        return options
    }
}
