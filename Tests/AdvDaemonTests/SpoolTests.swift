import AdvDaemon
import AdvProtocol
import AdvTestSupport
import Foundation
import Testing

/// Spool folders: complete files become jobs exactly once, invalid ones are rejected with a reason,
/// temporaries are ignored, and a burst of 1,000 files is recorded completely.
@Suite struct SpoolTests {
    static let manifest = """
        dataset: {name: blobs, train_examples: 50}
        model: {architecture: linear}
        train: {epochs: 1}
        threat_model: {norm: linf, epsilon: 0.1}
        evaluation: {attacks: [{name: fgsm}]}
        """

    /// A store, an ingestor and a watcher over one spool folder, all in a temporary root.
    final class Fixture: @unchecked Sendable {
        let root = TemporaryFolder()
        let store: JobStore
        let spool: SpoolFolder
        let ingestor: SpoolIngestor
        let queue = DispatchQueue(label: "test.spool")
        var watcher: SpoolWatcher?

        init() throws {
            store = try JobStore(path: root.file("jobs.sqlite"))
            spool = SpoolFolder(path: root.file("spool"), priority: 3, labels: ["nightly"])
            var configuration = DaemonConfiguration()
            configuration.stateFolder = root.file("state")
            ingestor = SpoolIngestor(store: store, admission: JobAdmission(configuration: configuration),
                                     outputFolder: { [path = root.path] in path + "/state/jobs/\($0)" })
        }

        func startWatching() throws {
            let watcher = SpoolWatcher(folders: [spool], queue: queue) { [ingestor] folder, name in ingestor.ingest(name, in: folder) }
            try watcher.start()
            self.watcher = watcher
        }

        /// Writes elsewhere, then renames into the spool (the maildir convention).
        func drop(_ text: String, as name: String) throws {
            let staging = root.file("staging")
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: staging + "/" + name))
            try FileManager.default.moveItem(atPath: staging + "/" + name, toPath: spool.path + "/" + name)
        }

        /// Waits (up to `seconds`) until the store holds `count` jobs.
        func waitForJobs(_ count: Int, seconds: Double = 60) throws -> [JobInfo] {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                queue.sync {}
                let jobs = try store.list()
                if jobs.count >= count { return jobs }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return try store.list()
        }

        func names(in subfolder: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: spool.path + "/" + subfolder)) ?? []).sorted()
        }
    }

    @Test func validFilesBecomeJobsInvalidOnesAreRejectedWithTheReason() throws {
        let fixture = try Fixture()
        try fixture.startWatching()
        try fixture.drop(Self.manifest, as: "good.yaml")
        try fixture.drop(Self.manifest.replacingOccurrences(of: "epsilon: 0.1", with: "epsilon: lots"), as: "bad.yaml")
        try fixture.drop(Self.manifest + "\n#" + String(repeating: "x", count: 300_000), as: "huge.yaml")
        try fixture.drop("this is not a manifest", as: ".hidden.yaml")
        try fixture.drop(Self.manifest, as: "draft.yaml.swp")
        // written in place: it counts once closed
        try Data(Self.manifest.utf8).write(to: URL(fileURLWithPath: fixture.spool.path + "/inplace.yaml"))
        let jobs = try fixture.waitForJobs(2)
        Thread.sleep(forTimeInterval: 0.2)
        fixture.queue.sync {}
        #expect(try fixture.store.list().count == 2)
        let good = try #require(jobs.first { $0.source.hasSuffix("good.yaml") })
        #expect(good.name == "good" && good.priority == 3 && good.labels == ["nightly"] && good.state == .queued)
        #expect(fixture.names(in: "accepted").contains("\(good.id)-good.yaml"))
        #expect(fixture.names(in: "rejected") == ["bad.yaml", "bad.yaml.error", "huge.yaml", "huge.yaml.error"])
        let huge = try String(contentsOfFile: fixture.spool.path + "/rejected/huge.yaml.error", encoding: .utf8)
        #expect(huge.contains("huge.yaml: the manifest is") && huge.contains("at most 262144 are accepted"))
        let reason = try String(contentsOfFile: fixture.spool.path + "/rejected/bad.yaml.error", encoding: .utf8)
        #expect(reason.contains("bad.yaml: threat_model.epsilon: expected a number") && reason.contains("(line 4)"))
        let left = try FileManager.default.contentsOfDirectory(atPath: fixture.spool.path).sorted()
        #expect(left == [".hidden.yaml", "accepted", "draft.yaml.swp", "rejected"])
    }

    @Test func filesThatArrivedWhileDownArePickedUpAtStart() throws {
        let fixture = try Fixture()
        try FileManager.default.createDirectory(atPath: fixture.spool.path, withIntermediateDirectories: true)
        for index in 0..<3 { try fixture.drop(Self.manifest, as: "early-\(index).yaml") }
        try fixture.startWatching()
        #expect(try fixture.waitForJobs(3).count == 3)
    }

    @Test func aBurstOfAThousandIsRecordedCompletelyEachExactlyOnce() throws {
        let fixture = try Fixture()
        try fixture.startWatching()
        for index in 0..<1000 { try fixture.drop(Self.manifest, as: String(format: "burst-%04d.yaml", index)) }
        let jobs = try fixture.waitForJobs(1000, seconds: 120)
        #expect(jobs.count == 1000)
        #expect(Set(jobs.map(\.source)).count == 1000)
        #expect(fixture.names(in: "accepted").count == 1000)
        // a second daemon start scans the spool again: nothing new, nothing twice
        fixture.watcher?.stop()
        try fixture.startWatching()
        fixture.queue.sync {}
        Thread.sleep(forTimeInterval: 0.2)
        fixture.queue.sync {}
        #expect(try fixture.store.list().count == 1000)
    }

    @Test func temporaryNamesAreIgnored() {
        for name in [".x.yaml", "x.yaml~", "#x.yaml#", "x.yaml.swp", "x.tmp", "x.part", "x.yaml.error"] {
            #expect(SpoolWatcher.isIgnored(name), "\(name)")
        }
        for name in ["x.yaml", "x.json", "experiment"] { #expect(!SpoolWatcher.isIgnored(name), "\(name)") }
    }
}
