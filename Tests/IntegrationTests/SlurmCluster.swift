import AdvTestSupport
import Foundation
import XCTest

/// The two-node Slurm cluster on loopback that `examples/slurm/local-cluster.sh` starts in a temporary
/// folder (munge, slurmctld and two slurmd as root, private ports), and the Slurm commands pointed at it.
final class SlurmCluster {
    static let script = InstallTests.repository + "/examples/slurm/local-cluster.sh"
    let folder = TemporaryFolder(prefix: "advd-slurm-")
    var configPath: String { folder.path + "/slurm.conf" }

    /// Whether this machine can run one: root and Slurm's daemons. `make test` installs them and sets
    /// ADVD_REQUIRE_SLURM, so that CI fails rather than skips when they are missing.
    static var isAvailable: Bool {
        getuid() == 0 && ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch", "/usr/sbin/munged"]
            .allSatisfy(FileManager.default.isExecutableFile(atPath:))
    }

    static func skipUnlessAvailable() throws {
        if ProcessInfo.processInfo.environment["ADVD_REQUIRE_SLURM"] != nil {
            XCTAssertTrue(isAvailable, "ADVD_REQUIRE_SLURM is set but Slurm's daemons or root are missing (make slurm-deps)")
            return
        }
        try XCTSkipUnless(isAvailable, "needs root and Debian's slurmctld, slurmd, slurm-client and munge (make slurm-deps)")
    }

    init() throws {
        let started = try AdvdProcess.run(executable: Self.script, arguments: ["start", folder.path])
        guard started.status == 0 else { throw ClusterError(description: "the Slurm cluster did not start: \(started.output)") }
    }

    deinit {
        _ = try? AdvdProcess.run(executable: Self.script, arguments: ["stop", folder.path])
    }

    struct ClusterError: Error, CustomStringConvertible { let description: String }

    /// Runs a Slurm command (`squeue`, `scontrol`, …) against this cluster.
    @discardableResult
    func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        try AdvdProcess.run(executable: "/usr/bin/" + tool, arguments: arguments, environment: ["SLURM_CONF": configPath])
    }

    /// Stops or starts the controller alone: Slurm unreachable, then back.
    func stopController() throws { _ = try AdvdProcess.run(executable: Self.script, arguments: ["stop-controller", folder.path]) }
    func startController() throws {
        let started = try AdvdProcess.run(executable: Self.script, arguments: ["start-controller", folder.path])
        guard started.status == 0 else { throw ClusterError(description: "slurmctld did not come back: \(started.output)") }
    }

    /// Every Slurm job the cluster still lists whose folder is under `folder` (each test's daemon has
    /// its own, and its own job ids): id, name (`advd-3-1`) and state.
    func jobs(under folder: String) throws -> [(id: String, name: String, state: String)] {
        let listed = try run("squeue", ["-h", "-t", "all", "-o", "%i|%j|%T|%Z"])
        return listed.output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "|").map(String.init)
            guard fields.count == 4, fields[3].hasPrefix(folder + "/") else { return nil }
            return (fields[0], fields[1], fields[2])
        }
    }

    /// The advd configuration that sends jobs to this cluster, their folders under `sharedFolder`.
    func advdConfiguration(sharedFolder: String, pollSeconds: Int = 1, extra: String = "") -> String {
        """
        executor: slurm
        slurm:
          shared_folder: \(sharedFolder)
          advd_path: \(AdvdProcess.path)
          slurm_conf: \(configPath)
          poll_seconds: \(pollSeconds)
        \(extra)
        """
    }
}
