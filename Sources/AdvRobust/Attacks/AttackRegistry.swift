/// The attack registry: every attack a manifest's battery can name, the keys they share, and the
/// checks that hold for all of them. Each attack declares its own entry in its file (`PGD.swift` ends
/// with `RegistryEntry.pgd`); adding one is that file and one line in `standard`.
public typealias AttackEntry = RegistryEntry<BatteryEntry, AttackContext>
public typealias AttackRegistry = Registry<BatteryEntry, AttackContext>

/// What an attack's keys are checked against and built for.
public struct AttackContext: Sendable {
    public var threatModel: ThreatModel
    public var classes: Int
    /// The defense in front of the model, if any (its name and kind decide which gradient estimations apply).
    public var defense: DefenseTraits?

    public init(threatModel: ThreatModel, classes: Int, defense: DefenseTraits? = nil) {
        self.threatModel = threatModel
        self.classes = classes
        self.defense = defense
    }
}

/// What the attack checks need to know of a defense.
public struct DefenseTraits: Sendable, Equatable {
    public var name: String
    public var isRandomized: Bool
    public var isDifferentiable: Bool

    public init(name: String, isRandomized: Bool, isDifferentiable: Bool) {
        self.name = name
        self.isRandomized = isRandomized
        self.isDifferentiable = isDifferentiable
    }

    /// The traits of `defense`, named `name` (the manifest's name, or the defense's own).
    public init(_ defense: any InputDefense, name: String) {
        self.init(name: name, isRandomized: defense.isRandomized, isDifferentiable: defense.isDifferentiable)
    }
}

extension Registry where Part == BatteryEntry, Context == AttackContext {
    /// The attacks advd ships, strongest-first order of a typical battery aside.
    public static let standard = AttackRegistry(kind: "attack", entries: [.pgd, .fgsm, .apgd, .square],
                                                sharedCheck: AttackKeys.check)
}

/// Keys several attacks share, declared once, and the checks across them.
public enum AttackKeys {
    public typealias Key = ParameterKey<AttackContext>

    public static let losses = ChoiceTable<AttackLoss>([
        ("ce", "softmax cross-entropy (descended on the target for targeted goals)", { _ in .crossEntropy }),
        ("cw", "the Carlini–Wagner margin, capped at `confidence` κ", { .carliniWagner(confidence: $0.float("confidence")) }),
    ])

    public static let goals = ChoiceTable<AttackGoal>([
        ("untargeted", "any wrong class", { _ in .untargeted }),
        ("target", "the class `target` for every example", { .targetClass($0.int("target")) }),
        ("least-likely", "the class the model finds least likely for each clean example", { _ in .leastLikely }),
        ("multi-targeted", "every other class in turn (Gowal et al. 2019)", { _ in .multiTargeted }),
    ])

    public static let gradientEstimations = ChoiceTable<GradientEstimation>([
        ("direct", "the true derivative of the whole pipeline, defense included", { _ in .direct }),
        ("bpda", "BPDA: the real defense forward, the identity backward (Athalye et al. 2018)", { _ in .bpda }),
        ("eot", "EOT: the derivative averaged over `eot_samples` draws of a randomised defense", { .eot(samples: $0.int("eot_samples")) }),
        ("bpda+eot", "both, for defenses that are random and non-differentiable", { .bpdaEOT(samples: $0.int("eot_samples")) }),
    ])

    public static func steps(default steps: Int, minimum: Int = 1) -> Key {
        Key("steps", .integer(minimum...100_000), default: .value(.integer(steps)), doc: "gradient steps per restart")
    }
    public static let restarts = Key("restarts", .integer(1...10_000), default: .value(.integer(1)),
                                     doc: "restarts from random points; per example the first that succeeds is kept")
    public static let loss = Key("loss", .choice(losses.choices), default: .value(.text("ce")), doc: "the loss ascended")
    public static let confidence = Key("confidence", .number(0...1e6, lowerIsOpen: false), default: .value(.number(0)),
                                       doc: "κ of the `cw` loss: high-confidence examples for testing detectors")
    public static let goal = Key("goal", .choice(goals.choices), default: .value(.text("untargeted")), doc: "what the attack tries to achieve")
    public static let target = Key("target", .integer(0...100_000), default: .absent, doc: "the class of `goal: target`, below the data set's class count",
                                   condition: { value, context in
                                       guard case let .integer(target) = value, target >= context.classes else { return nil }
                                       return "expected an integer in [0, \(context.classes - 1)], got \"\(target)\" (a class index)"
                                   })
    public static let gradients = Key("gradients", .choice(gradientEstimations.choices), default: .value(.text("direct")),
                                      doc: "how gradients pass through the defense")
    public static let eotSamples = Key("eot_samples", .integer(1...10_000), default: .value(.integer(16)),
                                       doc: "draws averaged per gradient with `eot`")
    /// The keys every gradient attack takes after its own.
    public static let gradientAttack = [loss, confidence, goal, target, gradients, eotSamples]

    /// The gradient estimation a spec asks for.
    public static func estimation(_ spec: PartSpec) -> GradientEstimation {
        gradientEstimations.value(for: "gradients", in: spec)
    }

    /// Checks across the shared keys, for whichever of them an attack takes.
    @Sendable static func check(_ part: DecodedPart<AttackContext>) throws {
        let loss = part["loss"].map(\.description), goal = part["goal"].map(\.description)
        let gradients = part["gradients"].map(\.description)
        if part.isGiven("confidence"), let loss, loss != "cw" {
            throw part.error(at: "confidence", "confidence applies to the cw loss, not \(loss)")
        }
        if goal == "target" && part["target"] == nil { throw part.error(at: "goal", "goal target needs a target class") }
        if part.isGiven("target"), let goal, goal != "target" {
            throw part.error(at: "target", "target applies to goal: target, not \(goal)")
        }
        guard let gradients else { return }
        let defense = part.context.defense
        if gradients != "direct" && defense == nil {
            throw part.error(at: "gradients", "\(gradients) changes how gradients pass through a defense, but no defense is configured")
        }
        if gradients == "eot", let defense, !defense.isRandomized {
            throw part.error(at: "gradients", "eot averages over a randomised defense, but \(defense.name) is deterministic; use bpda")
        }
        if part.isGiven("eot_samples") && !gradients.contains("eot") {
            throw part.error(at: "eot_samples", "eot_samples applies to gradients: eot or bpda+eot, not \(gradients)")
        }
    }
}
