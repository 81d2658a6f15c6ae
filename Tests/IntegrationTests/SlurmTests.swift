import AdvProtocol
import AdvTestSupport
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// advd's Slurm executor against a real two-node Slurm cluster on loopback (started once for these
/// tests by examples/slurm/local-cluster.sh): jobs submitted with advctl and through the spool, a
/// requeue in the middle of training, a cancellation, a daemon killed while Slurm runs its jobs, the
/// early signal before a time limit, and a controller that goes away and comes back.
final class SlurmTests: XCTestCase {
    nonisolated(unsafe) static var cluster: SlurmCluster?
    nonisolated(unsafe) static var clusterError: String?

    override class func setUp() {
        guard SlurmCluster.isAvailable else { return }
        do { cluster = try SlurmCluster() } catch { clusterError = "\(error)" }
    }

    override class func tearDown() {
        cluster = nil
    }

    var cluster: SlurmCluster { Self.cluster! }

    override func setUpWithError() throws {
        try XCTSkipUnless(AdvdProcess.isBuilt && FileManager.default.isExecutableFile(atPath: DaemonHarness.advctlPath),
                          "needs the advd and advctl executables beside the tests")
        try SlurmCluster.skipUnlessAvailable()
        if let error = Self.clusterError { throw SlurmCluster.ClusterError(description: error) }
    }

    /// A daemon whose jobs go to the cluster, their folders in `<root>/shared/jobs`.
    private func slurmDaemon(pollSeconds: Int = 1, extra: String = "") throws -> DaemonHarness {
        let daemon = try DaemonHarness()
        let shared = daemon.root + "/shared"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        try cluster.advdConfiguration(sharedFolder: shared, pollSeconds: pollSeconds, extra: extra).write(toFile: daemon.root + "/advd.yaml", atomically: true, encoding: .utf8)
        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"))
        return daemon
    }

    private func jobFolder(_ daemon: DaemonHarness, _ id: Int) -> String { daemon.root + "/shared/jobs/\(id)" }

    /// The Slurm job id the daemon recorded for job `id`.
    private func clusterID(_ daemon: DaemonHarness, _ id: Int) throws -> String? {
        (try daemon.job(id)["placement"] as? [String: Any])?["clusterJobID"] as? String
    }

    private func waitUntil(seconds: Double = 120, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return try condition()
    }

    private func eventMessages(_ job: [String: Any]) -> [String] {
        (job["events"] as? [[String: Any]])?.compactMap { $0["message"] as? String } ?? []
    }

    private func results(_ daemon: DaemonHarness, _ id: Int) throws -> NSDictionary? {
        let shown = try daemon.advctl(["results", String(id), "--json"])
        XCTAssertEqual(shown.status, 0, shown.output)
        let object = try JSONSerialization.jsonObject(with: Data(shown.output.utf8)) as? [String: Any]
        return object?["evaluation"] as? NSDictionary
    }

    func testJobsFromAdvctlAndTheSpoolSucceedWithTheLocalExecutorsResults() throws {
        let daemon = try slurmDaemon()
        try ServeTests.tinyManifest.write(toFile: daemon.root + "/tiny.yaml", atomically: true, encoding: .utf8)
        let submitted = try daemon.advctl(["submit", daemon.root + "/tiny.yaml"])
        XCTAssertEqual(submitted.status, 0, submitted.output)
        try daemon.drop(ServeTests.tinyManifest.replacingOccurrences(of: "name: tiny", with: "name: spooled"), as: "spooled.yaml")
        for id in [1, 2] {
            let job = try daemon.waitForJob(id, in: ["succeeded", "failed", "cancelled"], seconds: 180)
            XCTAssertEqual(job["state"] as? String, "succeeded", "\(job)")
            XCTAssertEqual(job["attempts"] as? Int, 1)
            XCTAssertTrue(FileManager.default.fileExists(atPath: jobFolder(daemon, id) + "/events.jsonl"), "the job wrote its events on the shared folder")
        }
        // squeue names each job by its advd id and attempt; advctl names the Slurm job, partition and node
        let names = try cluster.jobs(under: daemon.root).map { "\($0.name) \($0.state)" }.sorted()
        XCTAssertEqual(names, ["advd-1-1 COMPLETED", "advd-2-1 COMPLETED"])
        let shown = try daemon.advctl(["show", "1"])
        let placement = try XCTUnwrap(shown.output.split(separator: "\n").first { $0.hasPrefix("cluster: ") })
        let slurmID = try clusterID(daemon, 1) ?? "?"
        XCTAssertTrue(["node1", "node2"].contains { placement == "cluster: slurm \(slurmID) on debug/\($0) (COMPLETED)" }, String(placement))
        let listed = try daemon.advctl(["list"])
        XCTAssertTrue(listed.output.contains("CLUSTER JOB") && (listed.output.contains("node1") || listed.output.contains("node2")), listed.output)

        // the same manifest through the local executor: the same results, the same weights
        let local = try DaemonHarness()
        try local.start()
        XCTAssertTrue(local.waitForNotification("READY=1"))
        XCTAssertEqual(try local.advctl(["submit", daemon.root + "/tiny.yaml"]).status, 0)
        XCTAssertEqual(try local.waitForJob(1, in: ["succeeded", "failed"], seconds: 180)["state"] as? String, "succeeded")
        XCTAssertEqual(try results(daemon, 1), try results(local, 1))
        XCTAssertNotNil(try results(daemon, 1))
        XCTAssertEqual(FileManager.default.contents(atPath: jobFolder(daemon, 1) + "/model.safetensors"),
                       FileManager.default.contents(atPath: local.stateFolder + "/jobs/1/model.safetensors"))
    }

    func testARequeueInTheMiddleOfAnEpochResumesToAByteIdenticalModel() throws {
        try requeueInTheMiddleOfAnEpoch(pollSeconds: 1)
    }

    /// The requeue comes before the daemon's first look at the job (it looks every 20 s): Slurm's
    /// requeue count, against the 0 of a job just submitted, tells it the job ran and went back.
    func testARequeueBeforeTheDaemonsFirstLookIsSeen() throws {
        try requeueInTheMiddleOfAnEpoch(pollSeconds: 20)
    }

    private func requeueInTheMiddleOfAnEpoch(pollSeconds: Int) throws {
        let daemon = try slurmDaemon(pollSeconds: pollSeconds)
        let reference = try uninterruptedRun(ServeTests.longManifest, in: daemon.root)
        try daemon.drop(ServeTests.longManifest, as: "long.yaml")
        XCTAssertTrue(waitForTrainingCheckpoint(in: jobFolder(daemon, 1)), "training never reached step 80")
        let slurmID = try XCTUnwrap(try clusterID(daemon, 1))
        let requeue = try cluster.run("scontrol", ["requeue", slurmID])
        XCTAssertEqual(requeue.status, 0, requeue.output)
        // the daemon sees it back in Slurm's queue (held there by BeginTime), then it may start again at once
        let putBack = try waitUntil(seconds: 60) { eventMessages(try daemon.job(1)).contains { $0.contains("Slurm put it back in its queue") } }
        XCTAssertTrue(putBack, "\(eventMessages((try? daemon.job(1)) ?? [:]))")
        XCTAssertEqual(try daemon.job(1)["state"] as? String, "submitted")
        XCTAssertFalse(FileManager.default.fileExists(atPath: jobFolder(daemon, 1) + "/model.safetensors"), "the job finished before the requeue")
        try cluster.run("scontrol", ["update", "jobid=\(slurmID)", "StartTime=now"])
        let job = try daemon.waitForJob(1, in: ["succeeded", "failed", "cancelled"], seconds: 240)
        XCTAssertEqual(job["state"] as? String, "succeeded", "\(job)")
        XCTAssertEqual(job["attempts"] as? Int, 1, "Slurm's requeue is the same attempt")
        let events = eventMessages(job)
        XCTAssertTrue(events.contains { $0.contains("Slurm put it back in its queue") && $0.contains("waits in the cluster's queue") }, "\(events)")
        XCTAssertEqual(events.filter { $0 == "running" }.count, 2, "\(events)")
        XCTAssertEqual(try cluster.jobs(under: daemon.root).map(\.id), [slurmID], "one Slurm job, run twice")
        XCTAssertEqual(FileManager.default.contents(atPath: jobFolder(daemon, 1) + "/model.safetensors"),
                       FileManager.default.contents(atPath: reference + "/model.safetensors"), "weights differ from an uninterrupted run")
        XCTAssertEqual(timelessMetrics(jobFolder(daemon, 1) + "/metrics.json"), timelessMetrics(reference + "/metrics.json"))
    }

    func testCancellingAJobCancelsItInSlurm() throws {
        let daemon = try slurmDaemon()
        try TestManifests.slow.write(toFile: daemon.root + "/slow.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try daemon.advctl(["submit", daemon.root + "/slow.yaml"]).status, 0)
        XCTAssertEqual(try daemon.waitForJob(1, in: ["running"], seconds: 60)["state"] as? String, "running")
        XCTAssertTrue(waitForTrainingCheckpoint(in: jobFolder(daemon, 1)), "training never reached step 80")
        let cancel = try daemon.advctl(["cancel", "1"])
        XCTAssertEqual(cancel.status, 0, cancel.output)
        let job = try daemon.waitForJob(1, in: ["cancelled", "failed", "succeeded"], seconds: 60)
        XCTAssertEqual(job["state"] as? String, "cancelled", "\(job)")
        XCTAssertEqual(try cluster.jobs(under: daemon.root).map(\.state), ["CANCELLED"])
        // retry: a new submission, which resumes from the checkpoint the cancelled run left
        let retry = try daemon.advctl(["retry", "1"])
        XCTAssertEqual(retry.status, 0, retry.output)
        XCTAssertEqual(try daemon.waitForJob(1, in: ["running"], seconds: 60)["state"] as? String, "running")
        let log = jobFolder(daemon, 1) + "/job.log"
        XCTAssertTrue(waitUntil(seconds: 60) {
            (try? String(contentsOfFile: log, encoding: .utf8))?.contains("resumed training from") == true
        }, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "no log")
        // a retry does not reuse the first submission's name
        XCTAssertEqual(try cluster.jobs(under: daemon.root).map { "\($0.name) \($0.state)" }.sorted(),
                       ["advd-1-1 CANCELLED", "advd-1-2 RUNNING"])
        XCTAssertEqual(try daemon.advctl(["cancel", "1"]).status, 0)
        XCTAssertEqual(try daemon.waitForJob(1, in: ["cancelled", "failed", "succeeded"], seconds: 60)["state"] as? String, "cancelled")
    }

    func testADaemonKilledWhileSlurmRunsItsJobsAdoptsThemAndRunsNoneTwice() throws {
        let daemon = try slurmDaemon()
        for name in ["first", "second"] {
            try daemon.drop(ServeTests.longManifest.replacingOccurrences(of: "name: long", with: "name: \(name)"), as: "\(name).yaml")
        }
        XCTAssertTrue(waitForTrainingCheckpoint(in: jobFolder(daemon, 1)), "training never reached step 80")
        daemon.stop(SIGKILL)
        // Slurm runs them on without the daemon
        XCTAssertTrue(try cluster.jobs(under: daemon.root).contains { $0.state == "RUNNING" })
        Thread.sleep(forTimeInterval: 2)
        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"))
        for id in [1, 2] {
            let job = try daemon.waitForJob(id, in: ["succeeded", "failed", "cancelled"], seconds: 240)
            XCTAssertEqual(job["state"] as? String, "succeeded", "\(job)")
            XCTAssertEqual(job["attempts"] as? Int, 1)
            XCTAssertEqual(eventMessages(job).filter { $0 == "running" }.count, 1, "\(eventMessages(job))")
            XCTAssertEqual(try daemon.job(id)["epochs"].map { ($0 as? [Any])?.count }, 4, "every epoch recorded, those run while the daemon was down too")
        }
        let names = try cluster.jobs(under: daemon.root).map { "\($0.name) \($0.state)" }.sorted()
        XCTAssertEqual(names, ["advd-1-1 COMPLETED", "advd-2-1 COMPLETED"], "each job submitted once")
    }

    /// A one-minute time limit with SIGTERM asked for 50 s before it. Slurm checks for due signals only
    /// every half minute or so, so the signal comes 10 to 40 s into the run: the job is one that lasts
    /// minutes, and the test follows it through its first stop and the resumed second attempt.
    func testAJobNearItsTimeLimitCheckpointsOnTheEarlySignalAndIsSubmittedAgain() throws {
        let daemon = try slurmDaemon(extra: "  time_limit: \"1\"\n  signal_seconds: 50")
        try daemon.drop(TestManifests.slow, as: "slow.yaml")
        var job: [String: Any] = [:]
        let resubmitted = try waitUntil(seconds: 150) {
            job = try daemon.job(1)
            return (job["attempts"] as? Int ?? 0) >= 2
        }
        XCTAssertTrue(resubmitted, "no second attempt: \(job)")
        let events = eventMessages(job)
        XCTAssertTrue(events.contains { $0.contains("stopped on Slurm's warning signal") && $0.contains("attempt 1 of 3") }, "\(events)")
        // the second attempt resumes from the checkpoint the first wrote when it was signalled
        let log = jobFolder(daemon, 1) + "/job.log"
        XCTAssertTrue(waitUntil(seconds: 60) {
            (try? String(contentsOfFile: log, encoding: .utf8))?.contains("resumed training from") == true
        }, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "no log")
        let submissions = try cluster.jobs(under: daemon.root).map { "\($0.name) \($0.state)" }.sorted()
        XCTAssertEqual(submissions.first, "advd-1-1 FAILED", "the first attempt exited 75 on the signal: \(submissions)")
        XCTAssertTrue(submissions.last?.hasPrefix("advd-1-2 ") == true, "\(submissions)")
        XCTAssertEqual(try daemon.advctl(["cancel", "1"]).status, 0)
        XCTAssertEqual(try daemon.waitForJob(1, in: ["cancelled", "failed", "succeeded"], seconds: 60)["state"] as? String, "cancelled")
    }

    /// The daemon dies between `sbatch` and recording the job as submitted: Slurm holds a job the
    /// store still calls queued. Simulated with the controller away (so the daemon's own sbatch fails
    /// after writing the batch script), the daemon killed, and the same sbatch run by hand; the
    /// restarted daemon must find that job by its name and folder, not submit a second.
    func testAJobSubmittedJustBeforeTheDaemonDiedIsFoundNotSubmittedTwice() throws {
        let daemon = try slurmDaemon()
        try cluster.stopController()
        var restarted = false
        defer { if !restarted { try? cluster.startController() } }
        try ServeTests.tinyManifest.write(toFile: daemon.root + "/tiny.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try daemon.advctl(["submit", daemon.root + "/tiny.yaml"]).status, 0)
        // the first sbatch gave up: the next try is 10 s away, so nothing is in flight when the daemon dies
        XCTAssertTrue(try waitUntil(seconds: 90) { try daemon.advctl(["status"]).output.contains("sbatch refused the job") })
        daemon.stop(SIGKILL)
        try cluster.startController()
        restarted = true
        let folder = jobFolder(daemon, 1)
        let submitted = try cluster.run("sbatch", ["--parsable", "--job-name=advd-1-1", "--chdir=\(folder)", "--output=\(folder)/job.log",
                                                   "--open-mode=append", "--cpus-per-task=1", "--ntasks=1", "--requeue", folder + "/slurm-job.sh"])
        XCTAssertEqual(submitted.status, 0, submitted.output)
        let slurmID = submitted.output.trimmingCharacters(in: .whitespacesAndNewlines)

        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"))
        let job = try daemon.waitForJob(1, in: ["succeeded", "failed", "cancelled"], seconds: 120)
        XCTAssertEqual(job["state"] as? String, "succeeded", "\(job)")
        XCTAssertEqual(try clusterID(daemon, 1), slurmID, "the daemon adopted the job Slurm held")
        XCTAssertEqual(try cluster.jobs(under: daemon.root).map { "\($0.id) \($0.name)" }, ["\(slurmID) advd-1-1"], "submitted once")
    }

    func testWhileTheControllerIsDownJobsWaitAndStatusSaysWhy() throws {
        let daemon = try slurmDaemon()
        try cluster.stopController()
        var restarted = false
        defer { if !restarted { try? cluster.startController() } }
        try ServeTests.tinyManifest.write(toFile: daemon.root + "/tiny.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try daemon.advctl(["submit", daemon.root + "/tiny.yaml"]).status, 0, "the daemon takes jobs while Slurm is away")
        var status = ""
        XCTAssertTrue(try waitUntil(seconds: 60) {
            status = try daemon.advctl(["status"]).output
            return status.contains("WARNING: Slurm")
        }, status)
        XCTAssertEqual(try daemon.job(1)["state"] as? String, "queued")
        try cluster.startController()
        restarted = true
        let job = try daemon.waitForJob(1, in: ["succeeded", "failed", "cancelled"], seconds: 180)
        XCTAssertEqual(job["state"] as? String, "succeeded", "\(job)")
        XCTAssertTrue(try waitUntil(seconds: 30) { !(try daemon.advctl(["status"]).output.contains("WARNING: Slurm")) })
    }

    /// A sweep of 3 training methods × 2 seeds: one group of six jobs, never more than
    /// `max_submitted` of them in Slurm's queue at once, and its grid with mean ± std over seeds.
    func testASweepRunsOnTheClusterWithinMaxSubmittedAndShowsItsGrid() throws {
        let daemon = try slurmDaemon(extra: "  max_submitted: 2")
        let sweep = ServeTests.tinyManifest.replacingOccurrences(of: "name: tiny", with: "name: methods")
            + "\nsweep:\n  grid: {train.method: [standard, fast-at, pgd-at]}\n  seeds: [1, 2]\n"
        try sweep.write(toFile: daemon.root + "/methods.yaml", atomically: true, encoding: .utf8)
        let submitted = try daemon.advctl(["submit", daemon.root + "/methods.yaml"])
        XCTAssertEqual(submitted.status, 0, submitted.output)
        XCTAssertTrue(submitted.output.hasPrefix("group methods-1\t6 jobs\t"), submitted.output)
        var most = 0
        let done = try waitUntil(seconds: 300) {
            let live = try cluster.jobs(under: daemon.root).filter { ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING"].contains($0.state) }
            most = max(most, live.count)
            let listed = try daemon.advctl(["list", "--group", "methods-1", "--json"]).output
            let jobs = (try? JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [[String: Any]]) ?? []
            return jobs.count == 6 && jobs.allSatisfy { ["succeeded", "failed", "cancelled"].contains($0["state"] as? String ?? "") }
        }
        XCTAssertTrue(done, "the sweep did not finish")
        XCTAssertLessThanOrEqual(most, 2, "more than max_submitted jobs were in Slurm's queue")
        XCTAssertEqual(try cluster.jobs(under: daemon.root).filter { $0.state == "COMPLETED" }.count, 6)
        let grid = try daemon.advctl(["results", "--group", "methods-1"])
        XCTAssertEqual(grid.status, 0, grid.output)
        let lines = grid.output.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "group methods-1: 6 jobs, 3 points; mean ± standard deviation over seeds", grid.output)
        XCTAssertTrue(lines[1].hasPrefix("TRAIN.METHOD  SEEDS  CLEAN"), grid.output)
        for (line, method) in zip(lines.dropFirst(2), ["standard", "fast-at", "pgd-at"]) {
            XCTAssertTrue(line.hasPrefix(method) && line.contains(" 1,2 ") && line.contains(" ± "), line)
        }
    }
}
