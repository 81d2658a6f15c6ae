import AdvRobust
import Foundation

/// The `slurm:` section of advd.yaml: where and how jobs are submitted when `executor: slurm`.
public struct SlurmSettings: Codable, Sendable, Equatable {
    /// The folder every node sees at the same path; job folders are `<shared_folder>/jobs/<id>`.
    public var sharedFolder: String
    /// The advd binary on the nodes (nil: the daemon's own path, which must then exist there too).
    public var advdPath: String?
    public var partition: String?
    public var account: String?
    public var qos: String?
    /// Slurm's `--time` (`minutes`, `HH:MM:SS`, `D-HH:MM:SS`…); nil: the partition's default.
    public var timeLimit: String?
    /// CPUs per job (`--cpus-per-task`), also its compute threads; nil: `threads_per_job`, else 1.
    public var cpusPerJob: Int?
    /// Slurm's `--mem` (`8G`, `16000M`); nil: the partition's default.
    public var memoryPerJob: String?
    /// More `sbatch` arguments, one per item (`--constraint=avx512`, `--exclusive`).
    public var extraSbatchArguments: [String] = []
    /// The most of advd's jobs in Slurm's queue at once (pending and running); a sweep waits its turn.
    public var maxSubmitted = 100
    /// How often the daemon asks Slurm about its jobs (`squeue`).
    public var pollSeconds = 15
    /// How long before its time limit (or a preemption's kill) a job gets SIGTERM to checkpoint (`--signal=B:TERM@…`).
    public var signalSeconds = 300
    /// The `slurm.conf` the Slurm commands read (SLURM_CONF); nil: Slurm's default.
    public var slurmConf: String?

    public init(sharedFolder: String) {
        self.sharedFolder = sharedFolder
    }

    public static let keys = ["shared_folder", "advd_path", "partition", "account", "qos", "time_limit", "cpus_per_job",
                       "memory_per_job", "extra_sbatch_args", "max_submitted", "poll_seconds", "signal_seconds", "slurm_conf"]

    /// Reads the `slurm:` mapping.
    /// - Throws: `ManifestError` naming the key and line.
    static func parse(_ node: ManifestNode) throws -> SlurmSettings {
        let map = try node.mapping(allowed: keys)
        func absolutePath(_ node: ManifestNode) throws -> String {
            let path = try node.string()
            guard path.hasPrefix("/") else { throw node.error("expected an absolute path, got \"\(path)\"") }
            return path
        }
        /// A Slurm name (partition, account, QOS): letters, digits and `-_.`, so it reaches sbatch as one argument.
        func name(_ node: ManifestNode?) throws -> String? {
            guard let node else { return nil }
            let text = try node.string()
            guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                throw node.error("expected a Slurm name (letters, digits, -, _ and .), got \"\(text)\"")
            }
            return text
        }
        var settings = SlurmSettings(sharedFolder: try absolutePath(try map.required("shared_folder")))
        settings.advdPath = try map["advd_path"].map(absolutePath)
        settings.partition = try name(map["partition"])
        settings.account = try name(map["account"])
        settings.qos = try name(map["qos"])
        if let node = map["time_limit"] {
            let text = try node.string()
            guard Self.isTimeLimit(text) else {
                throw node.error("expected a Slurm time limit (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS), got \"\(text)\"")
            }
            settings.timeLimit = text
        }
        settings.cpusPerJob = try map["cpus_per_job"].map { try $0.int(in: 1...1024) }
        if let node = map["memory_per_job"] {
            let text = try node.string()
            guard text.range(of: #"^[0-9]+[KMGT]?$"#, options: .regularExpression) != nil else {
                throw node.error("expected a size as Slurm's --mem takes it (16000M, 8G), got \"\(text)\"")
            }
            settings.memoryPerJob = text
        }
        if let node = map["extra_sbatch_args"] {
            settings.extraSbatchArguments = try node.list().map { item in
                let argument = try item.string()
                guard argument.hasPrefix("-") else { throw item.error("expected an sbatch option (starting with -), got \"\(argument)\"") }
                guard !Self.optionsAdvdSets.contains(where: { argument == $0 || argument.hasPrefix($0 + "=") }) else {
                    throw item.error("\(argument): advd sets this option itself (use the slurm section's keys)")
                }
                return argument
            }
        }
        settings.maxSubmitted = try map["max_submitted"]?.int(in: 1...100_000) ?? settings.maxSubmitted
        settings.pollSeconds = try map["poll_seconds"]?.int(in: 1...3600) ?? settings.pollSeconds
        settings.signalSeconds = try map["signal_seconds"]?.int(in: 10...65_535) ?? settings.signalSeconds
        settings.slurmConf = try map["slurm_conf"].map(absolutePath)
        return settings
    }

    /// Options whose values advd decides: an extra argument may not set them again.
    static let optionsAdvdSets = ["--job-name", "-J", "--output", "-o", "--error", "-e", "--chdir", "-D", "--cpus-per-task", "-c",
                                  "--signal", "--requeue", "--no-requeue", "--parsable", "--open-mode", "--wrap"]

    /// Slurm's time formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.
    public static func isTimeLimit(_ text: String) -> Bool {
        text.range(of: #"^([0-9]+(:[0-9]{1,2}){0,2}|[0-9]+-[0-9]{1,2}(:[0-9]{1,2}){0,2})$"#, options: .regularExpression) != nil
    }
}
