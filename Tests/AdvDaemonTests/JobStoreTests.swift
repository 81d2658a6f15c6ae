import AdvDaemon
import AdvProtocol
import AdvTestSupport
import Foundation
import GRDB
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

    /// A sweep's jobs share a group named after the sweep and its first job; from the spool, the whole
    /// sweep is found again by the file's key.
    @Test func aSweepsJobsShareAGroupAndItsPoints() throws {
        let folder = TemporaryFolder()
        let store = try JobStore(path: folder.file("jobs.sqlite"))
        _ = try store.submit(Self.submission("before"), outputFolder: { "/jobs/\($0)" })
        func point(_ seed: Int, key: String? = nil) -> JobStore.Submission {
            var job = Self.submission("grid-seed\(seed)", spoolKey: key)
            job.sweepPoint = [SweepCoordinate(key: "seed", value: String(seed))]
            return job
        }
        let recorded = try store.submitAll([JobStore.ManifestJobs(jobs: [Self.submission("single")], sweepName: nil),
                                            JobStore.ManifestJobs(jobs: [point(1), point(2)], sweepName: "grid")],
                                           outputFolder: { "/jobs/\($0)" })
        #expect(recorded.map(\.ids) == [[2], [3, 4]] && recorded.map(\.group) == [nil, "grid-3"])
        var filter = JobStore.Filter()
        filter.group = "grid-3"
        let members = try store.list(filter)
        #expect(members.map(\.id) == [3, 4] && members.allSatisfy { $0.group == "grid-3" })
        #expect(members.map { $0.sweepPoint?.first?.value } == ["1", "2"])
        #expect(try store.job(2)?.group == nil && store.job(2)?.sweepPoint == nil)

        let spooled = JobStore.ManifestJobs(jobs: [point(1, key: "7:7:7:7:g.yaml"), point(2)], sweepName: "g")
        let first = try store.submit(spooled, outputFolder: { "/jobs/\($0)" })
        let again = try store.submit(spooled, outputFolder: { "/jobs/\($0)" })
        #expect(first.isNew && !again.isNew && again.ids == first.ids && again.group == first.group && first.ids.count == 2)
    }

    @Test func lifeCycleAndInterruption() throws {
        let folder = TemporaryFolder()
        let path = folder.file("jobs.sqlite")
        var store = try JobStore(path: path)
        let (id, _) = try store.submit(Self.submission("a", labels: ["x", "y"]), outputFolder: { "/jobs/\($0)" })
        _ = try store.claimNext()
        try store.recordEpoch(id, EpochRecord(epoch: 1, trainLoss: 0.5, trainAccuracy: 0.8, validationAccuracy: 0.7,
                                              heldOutRobustAccuracy: 0.4, learningRate: 0.05, seconds: 1))
        // the daemon dies; a new one opens the same database and queues the job again
        store = try JobStore(path: path)
        #expect(try store.requeueInterrupted() == [id])
        let again = try #require(try store.claimNext())
        #expect(again.id == id && again.attempts == 1)   // an interruption is not an attempt
        let warning = JobWarning(check: "not-converged", message: "PGD-20 was still improving", evidence: "40% → 35% from 10 to 20 steps",
                                 suggestion: "run more steps")
        let evaluation = EvaluationSummary(threatModel: "L∞ ε = 0.1", examples: 100, cleanAccuracy: 0.9, worstCaseRobustAccuracy: 0.6,
                                           attacks: [AttackResult(name: "PGD-20", robustAccuracyAfter: 0.65, newlyBroken: 25),
                                                     AttackResult(name: "APGD-CE", robustAccuracyAfter: 0.6, newlyBroken: 5)],
                                           epsilonCurve: [EpsilonPoint(epsilon: 0.05, robustAccuracy: 0.8)], warnings: [warning])
        try store.recordSuccess(id, evaluation: evaluation)
        try store.forgetFiles(id)   // retention removed the folder: the results stay
        let stored = try #require(try store.results(id))
        #expect(stored == JobResults(job: id, evaluation: evaluation))   // the warning's evidence and suggestion too
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
        try store.apply(.retry, to: queued)
        #expect(try store.job(queued)?.state == .queued)
        expectError(containing: ["job \(queued) is queued; cannot retry it"]) { try store.apply(.retry, to: queued) }
        expectError(containing: ["no job 999"]) { try store.apply(.retry, to: 999) }
    }

    @Test func anIllegalTransitionChangesNothing() throws {
        let folder = TemporaryFolder()
        let store = try JobStore(path: folder.file("jobs.sqlite"))
        let (id, _) = try store.submit(Self.submission("a"), outputFolder: { "/jobs/\($0)" })
        let evaluation = EvaluationSummary(threatModel: "L∞", examples: 1, cleanAccuracy: 1, worstCaseRobustAccuracy: 1, attacks: [],
                                           epsilonCurve: [], warnings: [JobWarning(check: "c", message: "m", evidence: "e", suggestion: "s")])
        expectError(containing: ["job \(id) is queued; cannot succeed it"]) { try store.recordSuccess(id, evaluation: evaluation) }
        #expect(try store.results(id) == nil && store.job(id)?.state == .queued)
        #expect(try store.job(id, details: true)?.events?.map(\.message) == ["queued (from test)"])
    }

    @Test func attemptsCountCrashesButNotInterruptions() throws {
        let folder = TemporaryFolder()
        let path = folder.file("jobs.sqlite")
        let store = try JobStore(path: path)
        let (id, _) = try store.submit(Self.submission("a"), outputFolder: { "/jobs/\($0)" })
        #expect(try store.claimNext()?.attempts == 1)
        try store.apply(.retryAfterCrash(cause: "killed by SIGKILL"), to: id)
        #expect(try store.job(id).map { ($0.state, $0.attempts, $0.error) } ?? (.failed, 0, nil) == (.queued, 1, "killed by SIGKILL"))
        #expect(try store.claimNext()?.attempts == 2)
        try store.apply(.interrupt, to: id)   // the daemon stops: the attempt is given back
        #expect(try store.job(id)?.attempts == 1)
        #expect(try JobStore(path: path).requeueInterrupted() == [id])
        #expect(try store.claimNext()?.attempts == 2)
        // the daemon dies with the job running: the next start gives that attempt back too
        #expect(try JobStore(path: path).requeueInterrupted() == [id])
        #expect(try store.job(id).map { ($0.state, $0.attempts) } ?? (.failed, 0) == (.queued, 1))
        _ = try store.claimNext()
        try store.apply(.recordingFailed(reason: "disk full"), to: id)
        #expect(try store.job(id).map { ($0.state, $0.error, $0.finishedAt != nil) } ?? (.queued, nil, false)
                == (.recordingFailed, "disk full", true))
        try store.apply(.retry, to: id)
        #expect(try store.job(id).map { ($0.state, $0.attempts, $0.error, $0.finishedAt) } ?? (.failed, 9, "", nil)
                == (.queued, 0, nil, nil))
    }

    @Test func aVersion1DatabaseIsMigratedWithEveryJobKept() throws {
        let folder = TemporaryFolder()
        let path = folder.file("jobs.sqlite")
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/jobs-schema-v1.sql")
        let sql = try String(contentsOf: fixture, encoding: .utf8)
        try DatabaseQueue(path: path).write { try $0.execute(sql: sql) }

        let store = try JobStore(path: path)
        #expect(try store.list().map(\.name) == ["done", "broken", "cut-off", "waiting"])
        #expect(try store.results(1)?.evaluation.cleanAccuracy == 0.9 && store.job(1, details: true)?.epochs?.count == 1)
        #expect(try store.job(2)?.error == "no data")
        #expect(try store.requeueInterrupted() == [3])
        #expect(try store.claimNext()?.name == "cut-off")   // priority 5 first; its crashed attempt was given back
        #expect(try store.job(3)?.attempts == 2)
        try store.apply(.recordingFailed(reason: "test"), to: 3)   // a state v1 could not hold
        let (id, _) = try store.submit(Self.submission("new"), outputFolder: { "/jobs/\($0)" })
        #expect(id == 5)
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
