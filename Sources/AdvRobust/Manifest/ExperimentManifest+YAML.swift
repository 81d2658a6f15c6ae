import AdvNN
import Yams

/// The manifest written back as a manifest: every key under the name a user writes, every setting
/// stated — the training section, the threat model and the sanity checks in full, and each part's
/// values except those equal to their key's fixed default (some of those may not be given at all: `κ`
/// only with the cw loss). A run's folder keeps it as `manifest.yaml`, so "reproduce with
/// `advd run manifest.yaml`" is advice that works (metrics.json's echo is the decoded structure, with
/// every default, which `advd run` does not read).
extension ExperimentManifest {
    /// YAML that `parse` (with the same registries) reads back to this manifest exactly.
    public func normalisedYAML(registries: Registries = .standard) -> String {
        PartWriter(registries: registries).yaml(of: self)
    }
}

/// Builds the YAML tree of a manifest.
private struct PartWriter {
    let registries: Registries
    init(registries: Registries) { self.registries = registries }

    func yaml(of manifest: ExperimentManifest) -> String {
        let top = topLevel(manifest)
        // `serialize` only fails for nodes it cannot represent; these are plain scalars, lists and mappings
        return (try? Yams.serialize(node: mapping(top), sortKeys: false)) ?? ""
    }

    private func defaults<Part, Context>(_ registry: Registry<Part, Context>, _ name: String) -> [String: ParameterValue] {
        var values: [String: ParameterValue] = [:]
        for key in registry.entry(named: name)?.keys ?? [] {
            if case let .value(value) = key.defaultValue { values[key.name] = value }
        }
        return values
    }

    private func topLevel(_ manifest: ExperimentManifest) -> [(String, Node)] {
        let registries = self.registries
        var top: [(String, Node)] = [("name", .string(manifest.name)), ("seed", integer(Int(manifest.seed))),
                                     ("dataset", part(manifest.dataset, defaults(registries.datasets, manifest.dataset.name)))]
        var modelKeys: [(String, Node)] = manifest.model.architecture.map { architecture in
            [("architecture", .string(architecture.name))]
                + values(of: architecture, defaults(registries.architectures, architecture.name))
        } ?? []
        if let weights = manifest.model.weights { modelKeys.append(("weights", .string(weights))) }
        top.append(("model", mapping(modelKeys)))
        if let train = manifest.train { top.append(("train", training(train, manifest: manifest))) }
        top.append(("threat_model", mapping([("norm", .string(manifest.threatModel.norm.rawValue)),
                                             ("epsilon", number(manifest.threatModel.epsilon))])))
        if let defense = manifest.defense { top.append(("defense", part(defense, defaults(registries.defenses, defense.name)))) }
        if let detector = manifest.detector { top.append(("detector", part(detector, defaults(registries.detectors, detector.name)))) }
        top.append(("evaluation", evaluationNode(manifest.evaluation)))
        return top
    }

    private func training(_ config: TrainingConfig, manifest: ExperimentManifest) -> Node {
        let method = manifest.trainingMethod
        var keys: [(String, Node)] = [("method", .string(method.name))]
        let attack = values(of: method, defaults(registries.trainingMethods, method.name))
        if !attack.isEmpty { keys.append(("attack", mapping(attack))) }
        keys += [("epochs", integer(config.epochs)), ("batch_size", integer(config.batchSize)),
                 ("optimizer", optimizer(config.optimizer)), ("schedule", schedule(config.schedule))]
        if let every = config.checkpointEverySteps { keys.append(("checkpoint_every", integer(every))) }
        if let examples = config.evaluationExamples { keys.append(("evaluation_examples", integer(examples))) }
        if let frozen = config.frozenLayers { keys.append(("freeze", .sequence(.init(frozen.map(integer))))) }
        if let selfTraining = manifest.selfTraining, let mixing = config.pseudoLabeled {
            let pool: Node
            switch selfTraining.pool {
            case let .images(path): pool = mapping([("images", .string(path))])
            case let .trainingSplit(from, count):
                pool = mapping([("from", integer(from))] + (count.map { [("count", integer($0))] } ?? []))
            }
            let teacher = selfTraining.teacherWeights.map { mapping([("weights", .string($0))]) }
                ?? mapping([("epochs", integer(selfTraining.teacherEpochs))])
            keys.append(("self_training", mapping([("pool", pool), ("teacher", teacher), ("ratio", integer(mixing.ratio)),
                                                   ("weight", number(mixing.weight))])))
        }
        if let averaging = config.weightAveraging { keys.append(("weight_averaging", mapping([("decay", number(averaging.decay))]))) }
        if let augmentation = config.augmentation {
            keys.append(("augmentation", mapping([("crop_padding", integer(augmentation.cropPadding)),
                                                  ("horizontal_flip", flag(augmentation.horizontalFlip))])))
        }
        return mapping(keys)
    }

    private func optimizer(_ config: OptimizerConfig) -> Node {
        var keys: [(String, Node)] = [("name", .string(config.kind.rawValue)), ("lr", number(config.learningRate))]
        switch config.kind {
        case .sgd: keys += [("momentum", number(config.momentum)), ("nesterov", flag(config.nesterov))]
        case .adam, .adamw: keys += [("beta1", number(config.beta1)), ("beta2", number(config.beta2))]
        }
        return mapping(keys + [("weight_decay", number(config.weightDecay))])
    }

    private func schedule(_ schedule: LearningRateSchedule) -> Node {
        switch schedule {
        case .constant: return mapping([("name", .string("constant"))])
        case let .step(milestones, gamma):
            return mapping([("name", .string("step")), ("milestones", .sequence(.init(milestones.map(integer)))), ("gamma", number(gamma))])
        case let .cosine(minimum): return mapping([("name", .string("cosine")), ("minimum", number(minimum))])
        case let .oneCycle(peakFraction): return mapping([("name", .string("one-cycle")), ("peak_fraction", number(peakFraction))])
        }
    }

    private func evaluationNode(_ evaluation: EvaluationSpec) -> Node {
        var keys: [(String, Node)] = []
        if let examples = evaluation.examples { keys.append(("examples", integer(examples))) }
        keys.append(("batch_size", integer(evaluation.batchSize)))
        keys.append(("attacks", .sequence(.init(evaluation.attacks.map { part($0, defaults(registries.attacks, $0.name)) }))))
        if !evaluation.epsilonCurve.isEmpty { keys.append(("epsilon_curve", .sequence(.init(evaluation.epsilonCurve.map(number))))) }
        let checks = evaluation.sanityChecks
        var checkKeys: [(String, Node)] = [("enabled", flag(checks.enabled)), ("probe_examples", integer(checks.probeExamples))]
        if let large = checks.largeEpsilon { checkKeys.append(("large_epsilon", number(large))) }
        checkKeys.append(("convergence_factor", integer(checks.convergenceFactor)))
        // the manifest reads this fraction as a Float: the Double default would not read back as itself
        if checks.zeroGradientFraction != SanityCheckOptions().zeroGradientFraction {
            checkKeys.append(("zero_gradient_fraction", number(Float(checks.zeroGradientFraction))))
        }
        keys.append(("sanity_checks", mapping(checkKeys)))
        return mapping(keys)
    }

    /// A registry part as a manifest writes it: `{name: …, key: value, …}`.
    private func part(_ spec: PartSpec, _ fixedDefaults: [String: ParameterValue]) -> Node {
        mapping([("name", .string(spec.name))] + values(of: spec, fixedDefaults))
    }

    /// The part's values in key order, leaving out those equal to their key's fixed default.
    private func values(of spec: PartSpec, _ fixedDefaults: [String: ParameterValue]) -> [(String, Node)] {
        spec.values.keys.sorted().filter { fixedDefaults[$0] != spec.values[$0] }.map { key in
            switch spec.values[key]! {
            case let .integer(value): (key, integer(value))
            case let .number(value): (key, number(value))
            case let .flag(value): (key, flag(value))
            case let .text(value): (key, .string(value))
            case let .integers(value): (key, .sequence(.init(value.map(integer))))
            }
        }
    }

    private func mapping(_ pairs: [(String, Node)]) -> Node {
        .mapping(.init(pairs.map { (Node.string($0.0), $0.1) }))
    }

    private func integer(_ value: Int) -> Node { Node(String(value), Tag(.int)) }
    /// Swift's shortest form of a Float reads back as the same Float.
    private func number(_ value: Float) -> Node { Node("\(value)", Tag(.float)) }
    private func flag(_ value: Bool) -> Node { Node(value ? "true" : "false", Tag(.bool)) }
}

private extension Node {
    static func string(_ value: String) -> Node { Node(value, Tag(.str)) }
}
