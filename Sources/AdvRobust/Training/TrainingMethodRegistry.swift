import AdvNN

/// The training-method registry: how each training step uses its batch (`train.method`), with the keys
/// of its inner attack (`train.attack`). Each method declares its entry beside its type; adding one is
/// that file and one line in `standard`.
public typealias TrainingMethodEntry = RegistryEntry<any TrainingMethod, TrainingMethodContext>
public typealias TrainingMethodRegistry = Registry<any TrainingMethod, TrainingMethodContext>

/// What a training method's keys are checked against and built for.
public struct TrainingMethodContext: Sendable {
    /// The run's threat model; the inner attack's radius defaults to its ε.
    public var threatModel: ThreatModel
    public init(threatModel: ThreatModel) { self.threatModel = threatModel }
}

extension Registry where Part == any TrainingMethod, Context == TrainingMethodContext {
    /// The first entry is what a manifest trains with when it names no `train.method`.
    public static let standard = TrainingMethodRegistry(kind: "training method",
                                                        entries: [.standardTraining, .pgdAT, .fastAT, .freeAT, .trades, .atta])
}

extension RegistryEntry where Part == any TrainingMethod, Context == TrainingMethodContext {
    typealias Key = ParameterKey<TrainingMethodContext>

    /// The inner attack's radius: the threat model's ε unless given, at most 1 for L∞ on [0, 1] data.
    static let epsilon = Key(
        "epsilon", .number(0...1e6, lowerIsOpen: true),
        default: .derived("the threat model's ε", { context, _ in .number(context.threatModel.epsilon) }),
        doc: "the inner attack's radius",
        condition: { value, context in
            let threat = context.threatModel
            guard threat.norm == .linf, threat.lowerBound != nil, let radius = value.number, radius > 1 else { return nil }
            return "expected a number in (0, 1], got \"\(radius)\""
        })
    static let steps = Key("steps", .integer(1...10_000), default: .value(.integer(10)), doc: "the inner attack's steps")
    static let stepSize = stepSize(doc: "the inner attack's step size")
    /// `step_size`, ε/4 of the method's own radius unless given, with a method's own description.
    static func stepSize(doc: String) -> Key {
        Key("step_size", .number(0...1e6, lowerIsOpen: true),
            default: .derived("`epsilon`/4", { _, spec in .number(spec.float("epsilon") / 4) }), doc: doc)
    }

    /// The run's threat model at the method's own radius.
    static func threatModel(_ spec: PartSpec, _ context: TrainingMethodContext) -> ThreatModel {
        context.threatModel.withEpsilon(spec.float("epsilon"))
    }

    public static let standardTraining = TrainingMethodEntry(
        name: "standard", summary: "cross-entropy on clean inputs", keys: [], make: { _, _ in StandardTraining() })
}
