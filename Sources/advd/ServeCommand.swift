import AdvDaemon
import AdvNN
import AdvRobust
import ArgumentParser
import Foundation
import Logging

/// Options shared by `serve` and `check-config`: the file, then flags over it.
struct DaemonOptions: ParsableArguments {
    @Option(help: "Configuration file (default: \(DaemonConfiguration.defaultPath) if it exists, else built-in defaults).")
    var config: String?
    @Option(help: "State folder: the job database and job folders.") var stateFolder: String?
    @Option(name: .customLong("spool"), help: "A spool folder (repeatable; replaces the configured ones).") var spools: [String] = []
    @Option(help: "Control socket path.") var socket: String?
    @Option(help: "Group that may use the socket.") var socketGroup: String?
    @Option(help: "Jobs run side by side.") var workers: Int?
    @Option(help: "Compute threads per job.") var threadsPerJob: Int?
    @Option(help: "Folder manifests may read data from (repeatable; replaces the configured ones).")
    var datasetRoot: [String] = []
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel: String?
    @Option(help: "Runs of a crashing job before it fails for good.") var maxAttempts: Int?

    /// The configuration file to read, if any.
    var configurationPath: String? {
        config ?? (FileManager.default.fileExists(atPath: DaemonConfiguration.defaultPath) ? DaemonConfiguration.defaultPath : nil)
    }

    /// The file's settings with the flags applied.
    /// - Throws: `ValidationError` naming the file, key and line, or the flag.
    func resolve() throws -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        if let path = configurationPath {
            // a configuration error is not a usage error: no usage text after it
            do { configuration = try DaemonConfiguration.load(path: path) } catch { throw DaemonError("\(error)") }
        }
        func absolute(_ path: String) -> String {
            path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        }
        if let stateFolder { configuration.stateFolder = absolute(stateFolder) }
        if !spools.isEmpty { configuration.spools = spools.map { SpoolFolder(path: absolute($0)) } }
        if let socket { configuration.socketPath = absolute(socket) }
        if let socketGroup { configuration.socketGroup = socketGroup }
        if let workers {
            guard (1...256).contains(workers) else { throw ValidationError("--workers must be in 1…256, got \(workers)") }
            configuration.workers = workers
        }
        if let threadsPerJob {
            guard (1...256).contains(threadsPerJob) else { throw ValidationError("--threads-per-job must be in 1…256, got \(threadsPerJob)") }
            configuration.threadsPerJob = threadsPerJob
        }
        if !datasetRoot.isEmpty { configuration.datasetRoots = datasetRoot.map(absolute) }
        if let logLevel {
            guard DaemonConfiguration.logLevels.contains(logLevel) else {
                throw ValidationError("--log-level must be one of \(DaemonConfiguration.logLevels.joined(separator: ", ")), got \(logLevel)")
            }
            configuration.logLevel = logLevel
        }
        if let maxAttempts { configuration.maxAttempts = maxAttempts }
        if let problem = configuration.oversubscription { throw DaemonError(problem) }
        return configuration
    }
}

/// `advd serve`: the daemon.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the advd daemon: watch the spool folders, run jobs, answer advctl.",
        discussion: "Under systemd it speaks the notify protocol and logs to the journal; otherwise it logs to stderr.")

    @OptionGroup var options: DaemonOptions

    func run() throws {
        let configuration = try options.resolve()
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = JournalLogHandler.isJournalAttached
                ? JournalLogHandler(identifier: "advd") : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "advd")
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let options = self.options
        let reload: (() throws -> DaemonConfiguration)? = options.configurationPath == nil ? nil : { try options.resolve() }
        let daemon = Daemon(configuration: configuration, reloadConfiguration: reload, executable: executable, logger: logger)
        do {
            try daemon.run()
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `advd check-config`: validates the configuration (file and flags) and prints what it resolves to.
struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate the daemon's configuration and print the settings it resolves to.")

    @OptionGroup var options: DaemonOptions

    func run() throws {
        let configuration = try options.resolve()
        let problems = configuration.problemsOnThisMachine()
        guard problems.isEmpty else {
            try? FileHandle.standardError.write(contentsOf: Data(("\(options.configurationPath ?? "built-in defaults"): valid as a file, but on this machine:\n  "
                + problems.joined(separator: "\n  ") + "\n").utf8))
            throw ExitCode(1)
        }
        print("configuration: \(options.configurationPath ?? "built-in defaults") — valid")
        print("state_folder: \(configuration.stateFolder)")
        for spool in configuration.spools {
            let labels = spool.labels.isEmpty ? "" : ", labels " + spool.labels.joined(separator: ", ")
            print("spool: \(spool.path) (priority \(spool.priority)\(labels))")
        }
        print("socket: \(configuration.socketPath) (group \(configuration.socketGroup ?? "the daemon's"))")
        if configuration.executor == .local { print("workers: \(configuration.resolvedWorkers) × \(Wording.counted(configuration.resolvedThreadsPerJob, "thread")) on \(Wording.counted(DaemonConfiguration.cores, "core"))") }
        print("dataset_roots: \(configuration.datasetRoots.isEmpty ? "any" : configuration.datasetRoots.joined(separator: ", "))")
        let retention = configuration.retentionDays.map(String.init) ?? "forever"
        print("retention_days: \(retention), max_attempts: \(configuration.maxAttempts), log_level: \(configuration.logLevel)")
        print("stop_timeout: \(configuration.stopTimeoutSeconds) s")
        guard configuration.executor == .slurm, let slurm = configuration.slurm else { return print("executor: local") }
        print("executor: slurm, job folders in \(configuration.jobsFolder), advd on the nodes: \(slurm.advdPath ?? CommandLine.arguments[0])")
        do {
            for line in try slurm.describeCluster() { print("slurm: \(line)") }
        } catch {
            try? FileHandle.standardError.write(contentsOf: Data("\(options.configurationPath ?? "built-in defaults"): executor slurm, but Slurm cannot be used from here: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
