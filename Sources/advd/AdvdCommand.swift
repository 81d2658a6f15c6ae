import ArgumentParser

/// `advd`: the robustness lab's command — the daemon (`serve`), its configuration check, and
/// experiments in the foreground (`run`, `train`).
@main
struct AdvdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "advd",
        abstract: "advd — a robustness lab for neural networks.",
        subcommands: [ServeCommand.self, CheckConfigCommand.self, RunCommand.self, TrainCommand.self, ManifestDocsCommand.self])
}
