import AdvNN
import AdvRobust
import Foundation

/// A spool folder: manifests dropped here become jobs with its priority and labels.
public struct SpoolFolder: Codable, Sendable, Equatable {
    public var path: String
    public var priority: Int
    public var labels: [String]
    public init(path: String, priority: Int = 0, labels: [String] = []) {
        self.path = path
        self.priority = priority
        self.labels = labels
    }
}

/// advd serve's settings: `/etc/advd/advd.yaml` (every key documented in etc/advd/advd.yaml), then
/// command-line flags over it. `advd check-config` validates a file with the same code.
public struct DaemonConfiguration: Codable, Sendable, Equatable {
    public var stateFolder = "/var/lib/advd"
    public var spools = [SpoolFolder(path: "/var/spool/advd/incoming")]
    public var socketPath = "/run/advd/advd.sock"
    /// The group that may use the socket (mode 0660); nil or a missing group: the daemon's own group.
    public var socketGroup: String? = "advd"
    /// Jobs run side by side, and compute threads per job; nil: decided from the core count.
    public var workers: Int?
    public var threadsPerJob: Int?
    /// Folders a manifest may read data and weights from (the state folder is always allowed); empty: any.
    public var datasetRoots = ["/usr/share/datasets", "/var/lib/advd/datasets"]
    /// Days a finished job's files are kept (its results stay in the database); nil: forever.
    public var retentionDays: Int? = 30
    /// Runs of a job that crashed (killed, out of memory) before it is failed for good.
    public var maxAttempts = 3
    public var logLevel = "info"
    /// Seconds to wait for running jobs to checkpoint on shutdown before they are killed.
    public var stopTimeoutSeconds = 60
    /// Bounds on the control socket's connections (`connections`).
    public var connectionLimits = ConnectionLimits()
    /// Where jobs run: child processes here, or batch jobs on a Slurm cluster (the `slurm` section).
    public var executor = ExecutorKind.local
    public var slurm: SlurmSettings?

    public enum ExecutorKind: String, Codable, Sendable, Equatable, CaseIterable {
        case local, slurm
    }

    public init() {}

    public static let defaultPath = "/etc/advd/advd.yaml"
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// Cores of this machine.
    public static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Workers and threads per job, never more threads than cores: unset values split the cores.
    public var resolvedWorkers: Int {
        workers ?? max(1, min(2, Self.cores / (threadsPerJob ?? 1)))
    }
    /// Under Slurm, a job's threads are the CPUs it asks its node for, not a share of this machine's.
    public var resolvedThreadsPerJob: Int {
        if executor == .slurm, let slurm { return slurm.cpusPerJob ?? threadsPerJob ?? 1 }
        return threadsPerJob ?? max(1, Self.cores / resolvedWorkers)
    }

    public var databasePath: String { stateFolder + "/advd.sqlite" }
    /// Job folders: in the state folder, or, for Slurm, in the folder every node sees.
    public var jobsFolder: String {
        if executor == .slurm, let slurm { return slurm.sharedFolder + "/jobs" }
        return stateFolder + "/jobs"
    }

    /// Reads a configuration file.
    /// - Throws: `ManifestError` naming the file, key path and line.
    public static func load(path: String) throws -> DaemonConfiguration {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ManifestError(source: path, path: "", line: nil, message: "cannot read the configuration file (missing or unreadable)")
        }
        return try parse(yaml: text, source: path)
    }

    public static func parse(yaml: String, source: String) throws -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        if yaml.split(whereSeparator: \.isNewline).allSatisfy({ $0.trimmingCharacters(in: .whitespaces).hasPrefix("#") || $0.allSatisfy(\.isWhitespace) }) {
            return configuration   // a file of comments only: every default
        }
        let root = try ManifestNode.document(yaml: yaml, source: source)
        let map = try root.mapping(allowed: ["state_folder", "spools", "socket", "socket_group", "workers", "threads_per_job",
                                             "dataset_roots", "retention_days", "max_attempts", "log_level", "stop_timeout",
                                             "connections", "executor", "slurm"])
        func absolutePath(_ node: ManifestNode) throws -> String {
            let path = try node.string()
            guard path.hasPrefix("/") else { throw node.error("expected an absolute path, got \"\(path)\"") }
            return path
        }
        if let node = map["state_folder"] { configuration.stateFolder = try absolutePath(node) }
        if let node = map["socket"] { configuration.socketPath = try absolutePath(node) }
        if let node = map["socket_group"] { configuration.socketGroup = try node.string() }
        func spoolLabels(_ node: ManifestNode?) throws -> [String] {
            guard let node else { return [] }
            let labels = try node.list().map { try $0.string() }
            if let problem = JobLimits.problem(labels: labels) { throw node.error(problem) }
            return labels
        }
        if let node = map["spools"] {
            configuration.spools = try node.list().map { entry in
                let spool = try entry.mapping(allowed: ["path", "priority", "labels"])
                return SpoolFolder(path: try absolutePath(try spool.required("path")),
                                   priority: try spool["priority"]?.int(in: JobLimits.priorities) ?? 0,
                                   labels: try spoolLabels(spool["labels"]))
            }
            if configuration.spools.isEmpty { throw node.error("list at least one spool folder") }
        }
        configuration.workers = try map["workers"].map { try $0.int(in: 1...256) }
        configuration.threadsPerJob = try map["threads_per_job"].map { try $0.int(in: 1...256) }
        if let node = map["dataset_roots"] { configuration.datasetRoots = try node.list().map(absolutePath) }
        if let node = map["retention_days"] {
            configuration.retentionDays = (try? node.string()) == "forever" ? nil : try node.int(in: 1...100_000)
        }
        configuration.maxAttempts = try map["max_attempts"]?.int(in: 1...100) ?? configuration.maxAttempts
        configuration.logLevel = try map["log_level"]?.string(oneOf: logLevels) ?? configuration.logLevel
        configuration.stopTimeoutSeconds = try map["stop_timeout"]?.int(in: 1...3600) ?? configuration.stopTimeoutSeconds
        if let node = map["connections"] {
            let limits = try node.mapping(allowed: ["maximum", "per_user", "first_request_seconds", "idle_seconds"])
            var parsed = ConnectionLimits()
            parsed.maximum = try limits["maximum"]?.int(in: 1...1_000_000) ?? parsed.maximum
            parsed.perUID = try limits["per_user"]?.int(in: 1...1_000_000) ?? parsed.perUID
            parsed.firstRequestSeconds = Double(try limits["first_request_seconds"]?.float(in: 0...3600, lowerIsOpen: true)
                                                ?? Float(parsed.firstRequestSeconds))
            parsed.idleSeconds = Double(try limits["idle_seconds"]?.float(in: 0...86_400, lowerIsOpen: true) ?? Float(parsed.idleSeconds))
            configuration.connectionLimits = parsed
        }
        if let node = map["executor"] {
            configuration.executor = ExecutorKind(rawValue: try node.string(oneOf: ExecutorKind.allCases.map(\.rawValue)))!
        }
        configuration.slurm = try map["slurm"].map(SlurmSettings.parse)
        if configuration.executor == .slurm && configuration.slurm == nil {
            throw map["executor"]!.error("executor: slurm needs a slurm section (at least slurm.shared_folder)")
        }
        // Slurm places jobs on its nodes: this machine's cores do not bound them
        if configuration.executor == .local, let problem = configuration.oversubscription {
            throw (map["workers"] ?? map["threads_per_job"])!.error(problem)
        }
        return configuration
    }

    /// A message when workers × threads exceed the cores, else nil.
    public var oversubscription: String? {
        let total = resolvedWorkers * resolvedThreadsPerJob
        guard total > Self.cores else { return nil }
        return "\(resolvedWorkers) workers × \(resolvedThreadsPerJob) threads = \(total) threads on \(Self.cores) cores: the jobs would slow each other down; lower workers or threads_per_job"
    }

    /// Whether a manifest may read `path`: under a dataset root, or a job's trained model in the state
    /// folder (`jobs/<id>/model.safetensors`, nothing else there: not the database, not another job's
    /// checkpoints), with no `..` escapes. The job checks again where it opens each file (`FileAccess`).
    public func allowsReading(_ path: String) -> Bool {
        guard !datasetRoots.isEmpty else { return true }
        let resolved = ReadPolicy.resolved(path)
        let policy = ReadPolicy(roots: datasetRoots, jobsFolder: jobsFolder)
        return policy.allows(resolvedPath: resolved) || policy.roots.contains(resolved)
    }
}
