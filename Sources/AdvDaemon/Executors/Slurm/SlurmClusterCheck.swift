import Foundation

extension SlurmSettings {
    /// What `sinfo` says of the cluster these settings submit to, one line per partition and node
    /// state (`debug* up 1 idle, 2 CPUs per node`), for `advd check-config`.
    /// - Throws: an error saying why Slurm could not be asked, or that the configured partition is not there.
    public func describeCluster() throws -> [String] {
        var command = SlurmCommand()
        command.timeoutSeconds = 30
        if let slurmConf { command.environment["SLURM_CONF"] = slurmConf }
        let output = try command.run("sinfo", ["--noheader", "--format=%P|%a|%D|%T|%c|%l"])
        guard output.succeeded else { throw SlurmCommand.Failure(description: "sinfo failed: \(output.problem)") }
        var partitions: [String] = []
        let lines = output.stdout.split(whereSeparator: \.isNewline).map { line -> String in
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 6 else { return String(line) }
            partitions.append(fields[0].hasSuffix("*") ? String(fields[0].dropLast()) : fields[0])
            return "partition \(fields[0]) (\(fields[1]), time limit \(fields[5])): \(fields[2]) node(s) \(fields[3]), \(fields[4]) CPUs per node"
        }
        guard !lines.isEmpty else { throw SlurmCommand.Failure(description: "sinfo lists no partition: the cluster has no nodes") }
        if let partition, !partitions.contains(partition) {
            throw SlurmCommand.Failure(description: "slurm.partition: \(partition) is not a partition of this cluster (sinfo lists \(Set(partitions).sorted().joined(separator: ", ")))")
        }
        return lines
    }
}
