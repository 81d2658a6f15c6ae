import AdvProtocol
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
        subcommands: [StatusCommand.self, SubmitCommand.self, ListCommand.self, ShowCommand.self, WatchCommand.self,
                      LogsCommand.self, ResultsCommand.self, CancelCommand.self, RetryCommand.self, ArtifactsCommand.self])
}

/// Options every command takes.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "The daemon's socket (default: $ADVD_SOCKET, else \(Wire.defaultSocketPath)).")
    var socket: String?

    /// Sends a request; on failure prints the reason and exits with its status.
    func perform(_ request: Request) throws -> Response {
        do {
            return try DaemonConnection(option: socket).send(request)
        } catch let failure as ClientFailure {
            FileHandle.standardError.write(Data("advctl: \(failure)\n".utf8))
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
