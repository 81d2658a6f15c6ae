import ArgumentParser

/// `advd`: the robustness lab's command. Until the daemon exists it runs training jobs in the foreground.
@main
struct AdvdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "advd",
        abstract: "advd — a robustness lab for neural networks.",
        subcommands: [TrainCommand.self])
}
