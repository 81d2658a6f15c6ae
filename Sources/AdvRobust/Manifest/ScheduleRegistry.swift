import AdvNN

/// The learning-rate schedule registry (`train.schedule`): a name alone (`schedule: cosine`) or a
/// mapping with keys (`{name: step, milestones: [30, 40]}`).
public typealias ScheduleEntry = RegistryEntry<LearningRateSchedule, NoContext>
public typealias ScheduleRegistry = Registry<LearningRateSchedule, NoContext>

extension Registry where Part == LearningRateSchedule, Context == NoContext {
    public static let standard = ScheduleRegistry(kind: "schedule", entries: [.constant, .step, .cosine, .oneCycle])
}

extension RegistryEntry where Part == LearningRateSchedule, Context == NoContext {
    public static let constant = ScheduleEntry(
        name: "constant", summary: "the base rate throughout", keys: [], make: { _, _ in .constant })

    public static let step = ScheduleEntry(
        name: "step", summary: "the base rate times `gamma` at every milestone epoch reached (MultiStepLR)",
        keys: [.init("milestones", .integers(1...100_000), default: .required, doc: "epochs at which the rate drops",
                     condition: { value, _ in value == .integers([]) ? "expected at least one milestone epoch" : nil }),
               .init("gamma", .number(0...1, lowerIsOpen: true), default: .value(.number(0.1)), doc: "the factor of each drop")],
        make: { spec, _ in .step(milestones: spec.ints("milestones"), gamma: spec.float("gamma")) })

    public static let cosine = ScheduleEntry(
        name: "cosine", summary: "cosine annealing from the base rate to `minimum` over the run, per step",
        keys: [.init("minimum", .number(0...10, lowerIsOpen: false), default: .value(.number(0)), doc: "the final rate")],
        make: { spec, _ in .cosine(minimum: spec.float("minimum")) })

    public static let oneCycle = ScheduleEntry(
        name: "one-cycle", summary: "linear from 0 up to the base rate, then down to 0 (Wong et al. 2020's fast AT), per step",
        keys: [.init("peak_fraction", .number(0...1, lowerIsOpen: true), default: .value(.number(0.4)),
                     doc: "the fraction of training at which the rate peaks")],
        make: { spec, _ in .oneCycle(peakFraction: spec.float("peak_fraction")) })
}
