import ArgumentParser

/// `advd`: the robustness lab's command. Until the daemon exists it runs experiments in the foreground.
@main
struct AdvdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "advd",
        abstract: "advd — a robustness lab for neural networks.",
        subcommands: [RunCommand.self, TrainCommand.self])
}
