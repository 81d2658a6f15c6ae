import AdvProtocol
import AdvVersion
import ArgumentParser
import Foundation

/// `advctl`: talks to the advd daemon over its Unix socket.
@main
struct Advctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "advctl",
        abstract: "Control the advd robustness lab daemon: submit experiments, follow them, read their results.",
        discussion: """
            Exit status: 0 success, 1 the daemon refused the request, 3 the daemon is not running, \
            4 permission denied, 5 no such job, 64 usage error.
            """,
        version: AdvdVersion.current,
        subcommands: [StatusCommand.self, SubmitCommand.self, ListCommand.self, ShowCommand.self, WatchCommand.self,
                      LogsCommand.self, ResultsCommand.self, ReportCommand.self, CompareCommand.self, CancelCommand.self, RetryCommand.self,
                      ArtifactsCommand.self])

    /// argument-parser answers `advctl nosuch --help` with the top-level help and status 0; an unknown
    /// subcommand is an error whatever follows it, the same as `advctl nosuch`.
    static func main() {
        let first = CommandLine.arguments.dropFirst().first
        if let first, !first.hasPrefix("-"), first != "help", !configuration.subcommands.contains(where: { $0._commandName == first }) {
            main([first])
        }
        main(nil)
    }
}

/// Options every command takes.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "The daemon's socket (default: $ADVD_SOCKET, else \(Wire.defaultSocketPath)).")
    var socket: String?

    /// Sends a request and returns the payload `extract` takes from the answer; on failure, or an
    /// answer of another kind than the command's, prints the reason and exits with its status.
    @discardableResult
    func perform<Payload>(_ request: Request, _ extract: (Response) -> Payload?) throws -> Payload {
        do {
            let response = try DaemonConnection(option: socket).send(request)
            guard let payload = extract(response) else {
                throw ClientFailure.refused(ProtocolError(
                    code: .badResponse,
                    message: "the daemon answered \(request.command.rawValue) with \(response.reply?.rawValue ?? "nothing"), not \(request.command.reply.rawValue)"))
            }
            return payload
        } catch let failure as ClientFailure {
            try? FileHandle.standardError.write(contentsOf: Data("advctl: \(failure)\n".utf8))
            throw failure.exitCode
        }
    }
}

/// Output switch of the read commands.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print the daemon's answer as JSON, for scripts.")
    var json = false
}

/// Prints `value` as pretty JSON.
func printJSON<Value: Encodable>(_ value: Value) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    if let data = try? encoder.encode(value) { print(String(decoding: data, as: UTF8.self)) }
}

/// A job id argument: `42` or `#42`.
struct JobID: ExpressibleByArgument {
    let value: Int64
    init?(argument: String) {
        guard let value = Int64(argument.hasPrefix("#") ? String(argument.dropFirst()) : argument), value > 0 else { return nil }
        self.value = value
    }
}
