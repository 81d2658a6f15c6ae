import Foundation

/// Runs the built `advd` executable as a user would, for integration tests.
public enum AdvdProcess {
    /// The `advd` executable built beside the test binary (`swift test` builds every product).
    public static let path = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("advd").path

    public static var isBuilt: Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// Runs advd with `arguments` and waits.
    /// - Returns: its exit status and everything it printed on stdout and stderr.
    public static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try run(executable: path, arguments: arguments)
    }

    /// Runs any program with `arguments` (and `environment` added to this process's) and waits.
    /// - Returns: its exit status and everything it printed on stdout and stderr.
    public static func run(executable: String, arguments: [String],
                           environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
