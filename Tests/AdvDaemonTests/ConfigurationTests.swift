import AdvDaemon
import AdvProtocol
import AdvRobust
import AdvTestSupport
import Foundation
import Logging
import Testing

/// The daemon's configuration file: the shipped one is valid and documents every key, and mistakes
/// are errors naming the key and line.
@Suite struct ConfigurationTests {
    /// etc/advd/advd.yaml, found from this source file.
    static let shippedPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("etc/advd/advd.yaml").path

    @Test func theShippedFileHoldsTheDefaultsAndDocumentsEveryKey() throws {
        let shipped = try DaemonConfiguration.load(path: Self.shippedPath)
        #expect(shipped == DaemonConfiguration())
        let text = try String(contentsOfFile: Self.shippedPath, encoding: .utf8)
        for key in ["state_folder", "spools", "socket", "socket_group", "workers", "threads_per_job", "dataset_roots",
                    "retention_days", "max_attempts", "log_level", "stop_timeout", "connections", "executor", "slurm"] + SlurmSettings.keys.map { "  " + $0 } {
            #expect(text.contains("\n# \(key)") || text.contains("\n\(key):") || text.contains("\n#\(key):"), "\(key) is not in the shipped file")
        }
    }

    /// A file can be valid and still not work here: each such setting is named with what to do.
    @Test func settingsThatCannotWorkOnThisMachineAreCaught() throws {
        let folder = TemporaryFolder()
        try Data("x".utf8).write(to: URL(fileURLWithPath: folder.file("a-file")))
        var configuration = DaemonConfiguration()
        configuration.socketGroup = "nosuchgroup"
        configuration.datasetRoots = ["/nope", folder.file("a-file"), folder.path]
        configuration.stateFolder = folder.file("missing/state")
        configuration.spools = [SpoolFolder(path: folder.file("spool")), SpoolFolder(path: folder.file("a-file"))]
        let problems = configuration.problemsOnThisMachine()
        #expect(problems.count == 5, "\(problems)")
        #expect(problems[0].hasPrefix("socket_group: the group \"nosuchgroup\" does not exist"))
        #expect(problems[1] == "dataset_roots: /nope: does not exist")
        #expect(problems[2] == "dataset_roots: \(folder.file("a-file")): is not a folder")
        #expect(problems[3].hasPrefix("state_folder: \(folder.file("missing/state")): does not exist, nor does its parent"))
        #expect(problems[4] == "spools: \(folder.file("a-file")): is not a folder")
        // the daemon refuses to start on them, naming each, and touches nothing
        let daemon = Daemon(configuration: configuration, reloadConfiguration: nil, executable: "/bin/false",
                            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        expectError(containing: ["does not work on this machine", "nosuchgroup", "/nope"]) { try daemon.start() }
        #expect(!FileManager.default.fileExists(atPath: folder.file("spool")))
        configuration.socketGroup = "root"
        configuration.datasetRoots = [folder.path]
        configuration.stateFolder = folder.file("state")
        configuration.spools = [SpoolFolder(path: folder.file("spool"))]
        #expect(configuration.problemsOnThisMachine().isEmpty)
    }

    @Test func valuesAndErrors() throws {
        let parsed = try DaemonConfiguration.parse(yaml: """
            state_folder: /srv/advd
            spools:
              - {path: /srv/spool/urgent, priority: 10, labels: [urgent]}
              - {path: /srv/spool/bulk}
            workers: 1
            retention_days: forever
            dataset_roots: []
            """, source: "advd.yaml")
        #expect(parsed.stateFolder == "/srv/advd" && parsed.databasePath == "/srv/advd/advd.sqlite")
        #expect(parsed.spools == [SpoolFolder(path: "/srv/spool/urgent", priority: 10, labels: ["urgent"]), SpoolFolder(path: "/srv/spool/bulk")])
        #expect(parsed.resolvedWorkers == 1 && parsed.resolvedThreadsPerJob == DaemonConfiguration.cores)
        #expect(parsed.retentionDays == nil && parsed.allowsReading("/anywhere"))

        func expectFailure(_ yaml: String, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            expectError(containing: fragments, sourceLocation: sourceLocation) { _ = try DaemonConfiguration.parse(yaml: yaml, source: "advd.yaml") }
        }
        expectFailure("log_levle: info\n", ["advd.yaml: log_levle: unknown key", "did you mean log_level?", "(line 1)"])
        expectFailure("\nstate_folder: var/lib\n", ["state_folder: expected an absolute path", "(line 2)"])
        expectFailure("workers: 1000\nthreads_per_job: 2\n", ["workers: expected an integer in [1, 256]"])
        expectFailure("workers: 200\nthreads_per_job: 2\n", ["workers × ", "threads", "cores"])
        expectFailure("log_level: loud\n", ["log_level: expected one of trace, debug"])
        expectFailure("spools: []\n", ["spools: list at least one spool folder"])
        expectFailure("spools: [{path: /s, labels: [\"a b\"]}]\n", ["spools[0].labels: label \"a b\": expected 1–64 letters, digits"])
        expectFailure("spools: [{path: /s, priority: 5000}]\n", ["spools[0].priority: expected an integer in [-1000, 1000]"])
    }

    @Test func datasetRootsConfineWhatAManifestReads() {
        var configuration = DaemonConfiguration()
        configuration.stateFolder = "/var/lib/advd"
        configuration.datasetRoots = ["/usr/share/datasets"]
        #expect(configuration.allowsReading("/usr/share/datasets/fashion-mnist"))
        #expect(configuration.allowsReading("/var/lib/advd/jobs/3/model.safetensors"))
        #expect(!configuration.allowsReading("/usr/share/datasets-other/x"))
        #expect(!configuration.allowsReading("/usr/share/datasets/../../../etc/shadow"))
        #expect(!configuration.allowsReading("/root/.ssh/id_rsa"))
    }

    @Test func admissionChecksPathsAgainstTheRoots() throws {
        let folder = TemporaryFolder()
        var configuration = DaemonConfiguration()
        configuration.stateFolder = folder.file("state")
        configuration.datasetRoots = [folder.path]
        let admission = JobAdmission(configuration: configuration)
        let blobs = """
            dataset: {name: blobs}
            model: {architecture: mlp}
            train: {epochs: 1}
            threat_model: {norm: linf, epsilon: 0.1}
            evaluation: {attacks: [{name: fgsm}]}
            """
        #expect(try admission.admit(text: blobs, source: "ok.yaml").name == "ok")
        let outside = blobs.replacingOccurrences(of: "{architecture: mlp}", with: "{architecture: mlp, weights: /etc/passwd}")
        expectError(containing: ["x.yaml: model.weights", "/etc/passwd is outside the folders the daemon may read"]) {
            _ = try admission.admit(text: outside, source: "x.yaml")
        }
        let relative = blobs.replacingOccurrences(of: "{architecture: mlp}", with: "{architecture: mlp, weights: runs/a/model.safetensors}")
        expectError(containing: ["model.weights", "is relative"]) { _ = try admission.admit(text: relative, source: "x.yaml") }
        let missing = blobs.replacingOccurrences(of: "{name: blobs}", with: "{name: idx, path: \(folder.path)/nothing}")
        expectError(containing: ["dataset.path", "does not exist"]) { _ = try admission.admit(text: missing, source: "x.yaml") }
    }

    @Test func onlyTheSubmitterOrRootMayChangeAJob() {
        let job = JobInfo(id: 1, name: "a", ownerUID: 1000, priority: 0, labels: [], state: .running, attempts: 1, source: "advctl",
                          submittedAt: Date(), outputFolder: "/tmp")
        #expect(Authorization.mayModify(job, peer: PeerCredentials(pid: 1, uid: 1000, gid: 1000)))
        #expect(Authorization.mayModify(job, peer: PeerCredentials(pid: 1, uid: 0, gid: 0)))
        #expect(!Authorization.mayModify(job, peer: PeerCredentials(pid: 1, uid: 1001, gid: 1000)))
    }
}
