import AdvDaemon
import AdvProtocol
import AdvTestSupport
import Foundation
import Testing

/// The job store: the queue's order, the life cycle, results that outlive the files, and the
/// spool key that makes a spool file a job exactly once.
@Suite struct JobStoreTests {
    static func submission(_ name: String, priority: Int = 0, labels: [String] = [], owner: UInt32 = 1000,
                           spoolKey: String? = nil) -> JobStore.Submission {
        JobStore.Submission(name: name, ownerUID: owner, priority: priority, labels: labels, manifest: "name: \(name)",
                            source: "test", spoolKey: spoolKey)
    }

    @Test func higherPriorityFirstThenOldestFirst() throws {
        let folder = TemporaryFolder()
        let store = try JobStore(path: folder.file("jobs.sqlite"))
        for (name, priority) in [("a", 0), ("b", 5), ("c", 0), ("d", 5)] {
            _ = try store.submit(Self.submission(name, priority: priority), outputFolder: { "/jobs/\($0)" })
        }
        var order: [String] = []
        while let job = try store.claimNext() {
            order.append(job.name)
            #expect(job.state == .running && job.attempts == 1 && job.outputFolder == "/jobs/\(job.id)")
        }
        #expect(order == ["b", "d", "a", "c"])
    }

    @Test func lifeCycleAndInterruption() throws {
        let folder = TemporaryFolder()
        let path = folder.file("jobs.sqlite")
        var store = try JobStore(path: path)
        let (id, _) = try store.submit(Self.submission("a", labels: ["x", "y"]), outputFolder: { "/jobs/\($0)" })
        _ = try store.claimNext()
        try store.recordEpoch(id, EpochRecord(epoch: 1, trainLoss: 0.5, trainAccuracy: 0.8, testAccuracy: 0.7,
                                              heldOutRobustAccuracy: 0.4, learningRate: 0.05, seconds: 1))
        // the daemon dies; a new one opens the same database and queues the job again
        store = try JobStore(path: path)
        #expect(try store.requeueInterrupted() == [id])
        let again = try #require(try store.claimNext())
        #expect(again.id == id && again.attempts == 1)   // an interruption is not an attempt
        let results = JobResults(job: id, threatModel: "L∞ ε = 0.1", examples: 100, cleanAccuracy: 0.9, worstCaseRobustAccuracy: 0.6,
                                 attacks: [AttackResult(name: "PGD-20", robustAccuracyAfter: 0.65, newlyBroken: 25),
                                           AttackResult(name: "APGD-CE", robustAccuracyAfter: 0.6, newlyBroken: 5)],
                                 epsilonCurve: [EpsilonPoint(epsilon: 0.05, robustAccuracy: 0.8)], warnings: ["not-converged: …"])
        try store.recordSuccess(id, results: results)
        try store.forgetFiles(id)   // retention removed the folder: the results stay
        let stored = try #require(try store.results(id))
        #expect(stored.attacks.map(\.name) == ["PGD-20", "APGD-CE"] && stored.worstCaseRobustAccuracy == 0.6)
        #expect(stored.warnings == ["not-converged: …"] && stored.epsilonCurve.first?.robustAccuracy == 0.8)
        let shown = try #require(try store.job(id, details: true))
        #expect(shown.state == .succeeded && shown.epochs?.count == 1 && shown.manifest == "name: a")
        #expect(shown.events?.map(\.kind).contains("warning") == true)
        #expect(try store.list({ var f = JobStore.Filter(); f.label = "y"; return f }()).map(\.id) == [id])
        #expect(try store.list({ var f = JobStore.Filter(); f.label = "z"; return f }()).isEmpty)
        #expect(try store.list({ var f = JobStore.Filter(); f.states = [.queued]; return f }()).isEmpty)
    }

    @Test func cancelAndRetryRules() throws {
        let folder = TemporaryFolder()
        let store = try JobStore(path: folder.file("jobs.sqlite"))
        let (queued, _) = try store.submit(Self.submission("q"), outputFolder: { "/jobs/\($0)" })
        #expect(try store.cancelIfQueued(queued))
        #expect(try store.job(queued)?.state == .cancelled)
        try store.retry(queued)
        #expect(try store.job(queued)?.state == .queued)
        expectError(containing: ["job \(queued) is queued; only failed or cancelled jobs can be retried"]) { try store.retry(queued) }
        expectError(containing: ["no job 999"]) { try store.retry(999) }
    }

    @Test func aSpoolFileBecomesOneJobHoweverOftenItIsSeen() throws {
        let folder = TemporaryFolder()
        let store = try JobStore(path: folder.file("jobs.sqlite"))
        let first = try store.submit(Self.submission("s", spoolKey: "1:2:3:4:s.yaml"), outputFolder: { "/jobs/\($0)" })
        let second = try store.submit(Self.submission("s", spoolKey: "1:2:3:4:s.yaml"), outputFolder: { "/jobs/\($0)" })
        #expect(first.isNew && !second.isNew && first.id == second.id)
        #expect(try store.list().count == 1)
    }
}
