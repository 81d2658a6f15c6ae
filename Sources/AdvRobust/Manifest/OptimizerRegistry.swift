import AdvNN

/// The optimiser registry (`train.optimizer`): each optimiser's name, keys and defaults (PyTorch's
/// names; advd's recipe defaults), making the `OptimizerConfig` the trainer builds it from.
public typealias OptimizerEntry = RegistryEntry<OptimizerConfig, NoContext>
public typealias OptimizerRegistry = Registry<OptimizerConfig, NoContext>
typealias OptimizerKey = ParameterKey<NoContext>

extension Registry where Part == OptimizerConfig, Context == NoContext {
    public static let standard = OptimizerRegistry(kind: "optimizer", entries: [.sgd, .adam, .adamW])
}

extension RegistryEntry where Part == OptimizerConfig, Context == NoContext {
    static func learningRate(_ rate: Float) -> OptimizerKey {
        OptimizerKey("lr", .number(0...10, lowerIsOpen: true), default: .value(.number(rate)),
            doc: "the base learning rate (a schedule's maximum)")
    }
    static let weightDecay = OptimizerKey("weight_decay", .number(0...1, lowerIsOpen: false), default: .value(.number(0)),
                                 doc: "L2 penalty (decoupled decay for adamw)")
    static let betas = [OptimizerKey("beta1", .number(0...0.999_999, lowerIsOpen: false), default: .value(.number(0.9)),
                            doc: "β₁, the first moment's decay"),
                        OptimizerKey("beta2", .number(0...0.999_999_9, lowerIsOpen: false), default: .value(.number(0.999)),
                            doc: "β₂, the second moment's decay")]

    /// The configuration `spec` describes, checked as the trainer will check it.
    static func configuration(_ kind: OptimizerConfig.Kind, _ spec: PartSpec) -> OptimizerConfig {
        var config = OptimizerConfig()
        config.kind = kind
        config.learningRate = spec.float("lr")
        config.weightDecay = spec.float("weight_decay")
        config.momentum = spec.optionalFloat("momentum") ?? 0
        config.nesterov = spec.values["nesterov"].map { _ in spec.bool("nesterov") } ?? false
        config.beta1 = spec.optionalFloat("beta1") ?? config.beta1
        config.beta2 = spec.optionalFloat("beta2") ?? config.beta2
        return config
    }

    /// The entry for `kind`, named by its `OptimizerConfig.Kind` raw value (the name checkpoints store).
    /// Its check rejects what `OptimizerConfig.validate` would (Nesterov without momentum), at the key.
    static func optimizer(_ kind: OptimizerConfig.Kind, summary: String, keys: [OptimizerKey]) -> OptimizerEntry {
        OptimizerEntry(
            name: kind.rawValue, summary: summary, keys: keys,
            check: { part in
                do { try configuration(kind, part.spec).validate() } catch {
                    throw part.error(at: part.isGiven("nesterov") ? "nesterov" : "momentum", "\(error)")
                }
            },
            make: { spec, _ in configuration(kind, spec) })
    }

    public static let sgd = optimizer(
        .sgd, summary: "stochastic gradient descent with momentum (torch.optim.SGD)",
        keys: [learningRate(0.05),
               OptimizerKey("momentum", .number(0...0.999_999, lowerIsOpen: false), default: .value(.number(0.9)), doc: "momentum μ"),
               OptimizerKey("nesterov", .flag, default: .value(.flag(false)), doc: "Nesterov momentum"),
               weightDecay])

    public static let adam = optimizer(
        .adam, summary: "Adam (Kingma & Ba 2015) with L2 weight decay (torch.optim.Adam)",
        keys: [learningRate(0.001)] + betas + [weightDecay])

    public static let adamW = optimizer(
        .adamw, summary: "AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay",
        keys: [learningRate(0.001)] + betas + [weightDecay])
}
