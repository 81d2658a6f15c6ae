import AdvNN
import AdvVersion
import ArgumentParser
import Foundation

/// `advd`: the robustness lab's command — the daemon (`serve`), its configuration check, and
/// experiments in the foreground (`run`, `train`).
@main
struct AdvdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "advd",
        abstract: "advd — a robustness lab for neural networks.",
        version: AdvdVersion.current,
        subcommands: [ServeCommand.self, CheckConfigCommand.self, RunCommand.self, TrainCommand.self, ManifestDocsCommand.self,
                      ManualCommand.self])

    /// argument-parser answers `advd nosuch --help` with the top-level help and status 0; an unknown
    /// subcommand is an error whatever follows it, the same as `advd nosuch`.
    static func main() {
        let first = CommandLine.arguments.dropFirst().first
        if let first, !first.hasPrefix("-"), first != "help", !configuration.subcommands.contains(where: { $0._commandName == first }) {
            main([first])
        }
        // the commands that compute (or run jobs that do) get the best BLAS kernel for this CPU
        if let first, ([ServeCommand.self, RunCommand.self, TrainCommand.self] as [any ParsableCommand.Type]).contains(where: { $0._commandName == first }) {
            KernelSelection.prepareProcess { try? FileHandle.standardError.write(contentsOf: Data("advd: warning: \($0)\n".utf8)) }
        }
        main(nil)
    }
}
