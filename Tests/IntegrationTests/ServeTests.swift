import AdvProtocol
import AdvTestSupport
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `advd serve` and `advctl` as separate processes, as users and systemd run them.
final class ServeTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(AdvdProcess.isBuilt && FileManager.default.isExecutableFile(atPath: DaemonHarness.advctlPath),
                          "needs the advd and advctl executables beside the tests")
    }

    static let tinyManifest = """
        name: tiny
        seed: 3
        dataset: {name: blobs, classes: 3, dimensions: 8, train_examples: 240, test_examples: 60}
        model: {architecture: mlp, hidden: [16]}
        train: {epochs: 3, batch_size: 32}
        threat_model: {norm: linf, epsilon: 0.5}
        evaluation:
          attacks: [{name: pgd, steps: 5}, {name: fgsm}]
          epsilon_curve: [0.25, 0.5]
        """

    /// Long enough to be interrupted in the middle of training: PGD-AT, 4 epochs of 188 steps, about
    /// 2.5 s of training on one core, so that the tests' stops, kills and requeues, sent as soon as the
    /// checkpoint of step 80 appears, land before the end on a fast CPU too.
    static let longManifest = """
        name: long
        seed: 11
        dataset: {name: blobs, classes: 4, dimensions: 64, train_examples: 12000, test_examples: 200}
        model: {architecture: mlp, hidden: [256, 256]}
        train: {method: pgd-at, attack: {steps: 10}, epochs: 4, batch_size: 64, checkpoint_every: 40}
        threat_model: {norm: linf, epsilon: 0.2}
        evaluation:
          attacks: [{name: pgd, steps: 10}]
          sanity_checks: false
        """

    /// Fills the file system of `folder` with one file until a write fails; returns the file.
    static func fill(_ folder: String) -> String {
        let path = folder + "/filler"
        FileManager.default.createFile(atPath: path, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: path) else { return path }
        let chunk = Data(count: 1 << 20)
        while (try? handle.write(contentsOf: chunk)) != nil {}
        let small = Data(count: 4096)
        while (try? handle.write(contentsOf: small)) != nil {}
        try? handle.close()
        return path
    }

    /// A full disk under the state folder (a small tmpfs): the job that cannot write ends, is never left
    /// running, and its end is recorded once space returns; a spool file that arrived meanwhile is
    /// taken without a restart; `advctl status` says the file system is nearly full.
    func testAFullDiskLeavesNoJobRunningAndLosesNothing() throws {
        let daemon = try DaemonHarness()
        try FileManager.default.createDirectory(atPath: daemon.stateFolder, withIntermediateDirectories: true)
        let mount = try AdvdProcess.run(executable: "/bin/mount", arguments: ["-t", "tmpfs", "-o", "size=48m", "tmpfs", daemon.stateFolder])
        try XCTSkipUnless(mount.status == 0, "needs root and tmpfs mounts to fill a disk: \(mount.output)")
        defer {
            daemon.stop(SIGKILL)
            _ = try? AdvdProcess.run(executable: "/bin/umount", arguments: ["-l", daemon.stateFolder])
        }
        daemon.workerFlags = ["--workers", "1", "--threads-per-job", "1"]
        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"))
        try daemon.drop(TestManifests.slow, as: "slow.yaml")
        _ = try daemon.waitForJob(1, in: ["running"])
        // job 2 waits in the queue for the one worker, and will have to start on a full disk
        try Self.tinyManifest.replacingOccurrences(of: "name: tiny", with: "name: queued")
            .write(toFile: daemon.root + "/queued.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try daemon.advctl(["submit", daemon.root + "/queued.yaml"]).status, 0)
        Thread.sleep(forTimeInterval: 1)
        let filler = Self.fill(daemon.stateFolder)

        // the job cannot write its next checkpoint: it ends, and is not shown running without a process
        let ended = try daemon.waitForJob(1, in: ["failed", "recording-failed"], seconds: 60)
        XCTAssertNotEqual(ended["state"] as? String, "running", "\(ended)")
        let status = try daemon.advctl(["status"]).output
        XCTAssertTrue(status.contains("nearly full"), status)
        // a submission now is refused with the reason, and queues nothing
        let refused = try daemon.advctl(["submit", daemon.root + "/queued.yaml"])
        XCTAssertEqual(refused.status, 1, refused.output)
        XCTAssertTrue(refused.output.contains("disk is full") && refused.output.contains("nothing was queued"), refused.output)
        // the queued job could not start: it is still waiting, not failed
        Thread.sleep(forTimeInterval: 1)
        let waiting = try daemon.job(2)
        XCTAssertTrue(["queued", "recording-failed"].contains(waiting["state"] as? String ?? ""), "\(waiting)")
        // a manifest that arrives now cannot be recorded: it waits in the spool
        try daemon.drop(Self.tinyManifest.replacingOccurrences(of: "name: tiny", with: "name: later"), as: "later.yaml")
        Thread.sleep(forTimeInterval: 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: daemon.spool + "/later.yaml"))

        // space returns: the end is recorded, the spool file becomes a job, both without a restart
        try FileManager.default.removeItem(atPath: filler)
        let recorded = try daemon.waitForJob(1, in: ["failed"], seconds: 30)
        XCTAssertEqual(recorded["state"] as? String, "failed", "\(recorded)")
        XCTAssertTrue((recorded["error"] as? String ?? "").contains("space"), "\(recorded)")
        // it failed on its own writes; a log line it could not write did not crash it
        let messages = (recorded["events"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
        XCTAssertFalse(messages.contains { $0.contains("crashed") }, "\(messages)")
        for id in [2, 3] {
            let job = try daemon.waitForJob(id, in: ["succeeded", "failed"], seconds: 60)
            XCTAssertEqual(job["state"] as? String, "succeeded", "\(job)")
        }
        XCTAssertEqual(try daemon.job(3)["name"] as? String, "later")
        XCTAssertFalse(try daemon.advctl(["status"]).output.contains("WARNING"))
    }

    /// Writes a tiny CIFAR-10 folder (5 training batches and a test batch of `records` random records).
    static func writeCIFAR(_ folder: String, records: Int = 20) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        for name in (1...5).map({ "data_batch_\($0).bin" }) + ["test_batch.bin"] {
            var bytes: [UInt8] = []
            for _ in 0..<records { bytes.append(UInt8.random(in: 0..<10, using: &generator)); bytes += (0..<3072).map { _ in UInt8.random(in: 0...255, using: &generator) } }
            try Data(bytes).write(to: URL(fileURLWithPath: folder + "/" + name))
        }
    }

    /// Paths are checked where the job opens them: a data folder swapped for a link out of the dataset
    /// roots after the job was admitted is refused when the job opens it; and from the state folder a
    /// manifest may name only a job's model, not the database.
    func testFilesAreCheckedWhereTheJobOpensThem() throws {
        let daemon = try DaemonHarness()
        daemon.workerFlags = ["--workers", "1", "--threads-per-job", "1"]
        // the state folder lies outside the dataset root, as in a real installation
        daemon.datasetRoot = daemon.root + "/datasets"
        let data = daemon.root + "/datasets/data"
        try Self.writeCIFAR(data)
        let outside = TemporaryFolder(prefix: "advd-outside-")
        try Self.writeCIFAR(outside.path)
        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"))
        // the one worker is busy while the next job waits in the queue
        try daemon.drop(Self.longManifest, as: "long.yaml")   // blobs: no files to read
        _ = try daemon.waitForJob(1, in: ["running"])
        try """
            name: swapped
            dataset: {name: cifar10, path: \(data)}
            model: {architecture: linear}
            train: {epochs: 1, batch_size: 20}
            threat_model: {norm: linf, epsilon: 0.03}
            evaluation: {attacks: [{name: fgsm}], sanity_checks: false}
            """.write(toFile: daemon.root + "/swapped.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try daemon.advctl(["submit", daemon.root + "/swapped.yaml"]).status, 0)
        try FileManager.default.removeItem(atPath: data)
        try FileManager.default.createSymbolicLink(atPath: data, withDestinationPath: outside.path)
        XCTAssertEqual(try daemon.advctl(["cancel", "1"]).status, 0)
        let job = try daemon.waitForJob(2, in: ["succeeded", "failed"])
        XCTAssertEqual(job["state"] as? String, "failed", "\(job)")
        let error = job["error"] as? String ?? ""
        XCTAssertTrue(error.contains("it leads to \(outside.path)") && error.contains("outside the folders this job may read"), error)

        // (a link out of the roots is refused at submission too; the data is back for the next check)
        try FileManager.default.removeItem(atPath: data)
        try Self.writeCIFAR(data)
        // the database is in the state folder, but not a model: refused at submission, without its bytes
        try """
            dataset: {name: cifar10, path: \(data), test_examples: 5}
            model: {weights: \(daemon.stateFolder)/advd.sqlite}
            threat_model: {norm: linf, epsilon: 0.03}
            evaluation: {attacks: [{name: fgsm}]}
            """.write(toFile: daemon.root + "/database.yaml", atomically: true, encoding: .utf8)
        let refused = try daemon.advctl(["submit", daemon.root + "/database.yaml"])
        XCTAssertEqual(refused.status, 1, refused.output)
        XCTAssertTrue(refused.output.contains("advd.sqlite is outside the folders the daemon may read"), refused.output)
        XCTAssertFalse(refused.output.contains("SQLite format"), refused.output)
    }

    /// Under a watchdog (WATCHDOG_USEC, as systemd sets it) the daemon sends WATCHDOG=1 at half the
    /// interval, read here from the fake NOTIFY_SOCKET.
    func testWatchdogKeepAlivesComeAtHalfTheInterval() throws {
        let daemon = try DaemonHarness()
        daemon.extraEnvironment = ["WATCHDOG_USEC": "400000"]
        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"))
        _ = daemon.waitForNotification("never sent", seconds: 2.5)
        let times = zip(daemon.notifications, daemon.notificationTimes).filter { $0.0.contains("WATCHDOG=1") }.map(\.1)
        XCTAssertGreaterThanOrEqual(times.count, 8, "\(daemon.notifications)")
        let gaps = zip(times.dropFirst(), times).map { $0.timeIntervalSince($1) }.sorted()
        // half of 0.4 s; scheduling moves single keep-alives a little, the median not much
        XCTAssertEqual(gaps[gaps.count / 2], 0.2, accuracy: 0.08, "\(gaps)")
        XCTAssertLessThan(gaps.last!, 0.4, "a keep-alive came later than the watchdog interval: \(gaps)")
        XCTAssertEqual(daemon.stop(SIGTERM), 0)
    }

    func testASpooledManifestBecomesAJobThatSucceedsAndAdvctlReportsIt() throws {
        let daemon = try DaemonHarness()
        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"), "no READY=1: \(daemon.notifications)")
        XCTAssertTrue(daemon.notifications.contains { $0.contains("STATUS=0 running, 0 queued") }, "\(daemon.notifications)")

        try daemon.drop(Self.tinyManifest, as: "tiny.yaml")
        try daemon.drop(Self.tinyManifest.replacingOccurrences(of: "epsilon: 0.5", with: "epsilon: -1"), as: "broken.yaml")
        let job = try daemon.waitForJob(1, in: ["succeeded", "failed"])
        XCTAssertEqual(job["state"] as? String, "succeeded", "\(job)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: daemon.spool + "/accepted/1-tiny.yaml"))
        let error = try String(contentsOfFile: daemon.spool + "/rejected/broken.yaml.error", encoding: .utf8)
        XCTAssertTrue(error.contains("broken.yaml: threat_model.epsilon: expected a number in (0, 1e+06], got \"-1\" (line 6)"), error)

        let list = try daemon.advctl(["list"])
        XCTAssertEqual(list.status, 0, list.output)
        XCTAssertTrue(list.output.contains("tiny") && list.output.contains("succeeded"), list.output)
        let show = try daemon.advctl(["show", "1"])
        XCTAssertTrue(show.output.contains("state: succeeded") && show.output.contains("EPOCH"), show.output)
        let results = try daemon.advctl(["results", "1"])
        XCTAssertEqual(results.status, 0, results.output)
        XCTAssertTrue(results.output.contains("worst case") && results.output.contains("ε-curve"), results.output)
        let resultsJSON = try daemon.advctl(["results", "1", "--json"])
        let decoded = try JSONSerialization.jsonObject(with: Data(resultsJSON.output.utf8)) as? [String: Any]
        XCTAssertEqual(((decoded?["evaluation"] as? [String: Any])?["attacks"] as? [Any])?.count, 2, resultsJSON.output)
        let artifacts = try daemon.advctl(["artifacts", "1"])
        XCTAssertTrue(artifacts.output.contains("model.safetensors") && artifacts.output.contains("report.md"), artifacts.output)
        let status = try daemon.advctl(["status"])
        XCTAssertTrue(status.output.contains("workers: 0 busy, 2 idle"), status.output)

        // robust fine-tuning from another job, by id
        let fineTune = Self.tinyManifest.replacingOccurrences(of: "name: tiny", with: "name: tuned")
            .replacingOccurrences(of: "hidden: [16]}", with: "hidden: [16], weights: \"job:1\"}")
            .replacingOccurrences(of: "train: {epochs: 3", with: "train: {method: pgd-at, epochs: 1")
        try fineTune.write(toFile: daemon.root + "/tuned.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try daemon.advctl(["submit", daemon.root + "/tuned.yaml"]).status, 0)
        XCTAssertEqual(try daemon.waitForJob(2, in: ["succeeded", "failed"])["state"] as? String, "succeeded")
        XCTAssertTrue(try daemon.advctl(["logs", "2"]).output.contains("starting from the weights in \(daemon.stateFolder)/jobs/1/model.safetensors"))
        try fineTune.replacingOccurrences(of: "job:1", with: "job:99").write(toFile: daemon.root + "/tuned.yaml", atomically: true, encoding: .utf8)
        let noModel = try daemon.advctl(["submit", daemon.root + "/tuned.yaml"])
        XCTAssertEqual(noModel.status, 1)
        XCTAssertTrue(noModel.output.contains("model.weights: job 99 has no trained model"), noModel.output)

        // the reports: list's result columns, a report copied out, two jobs compared as text, CSV and a page
        let listed = try daemon.advctl(["list"]).output
        XCTAssertTrue(listed.contains("CLEAN") && listed.contains("WORST") && listed.contains("WARNINGS"), listed)
        XCTAssertEqual(try daemon.advctl(["report", "1", "--path"]).output, "\(daemon.stateFolder)/jobs/1/report.html\n")
        let copy = daemon.root + "/copy.html"
        XCTAssertEqual(try daemon.advctl(["report", "1", "--output", copy]).status, 0)
        XCTAssertTrue(try String(contentsOfFile: copy, encoding: .utf8).contains("Robust accuracy over ε"))
        let compared = try daemon.advctl(["compare", "1", "2", "--html", daemon.root + "/compare.html"])
        XCTAssertEqual(compared.status, 0, compared.output)
        XCTAssertTrue(compared.output.contains("train.method") && compared.output.contains("worst case"), compared.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: daemon.root + "/compare.html"))
        let csv = try daemon.advctl(["compare", "1", "2", "--csv"]).output
        XCTAssertTrue(csv.hasPrefix("section,name,#1 tiny,#2 tuned\n") && csv.contains("\nsetting,train.method,standard,pgd-at\n"), csv)
        XCTAssertEqual(try daemon.advctl(["compare", "1"]).status, 64)

        // submission through advctl is validated first; errors name the key and line
        try Self.tinyManifest.replacingOccurrences(of: "epochs: 3", with: "epochs: three")
            .write(toFile: daemon.root + "/bad.yaml", atomically: true, encoding: .utf8)
        let refused = try daemon.advctl(["submit", daemon.root + "/bad.yaml"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.output.contains("bad.yaml: train.epochs: expected an integer"), refused.output)
        // all or nothing: a bad file among good ones queues none of them
        try Self.tinyManifest.write(toFile: daemon.root + "/good.yaml", atomically: true, encoding: .utf8)
        let before = try daemon.advctl(["list", "--json"]).output
        let mixed = try daemon.advctl(["submit", daemon.root + "/good.yaml", daemon.root + "/bad.yaml", daemon.root + "/good.yaml"])
        XCTAssertEqual(mixed.status, 1, mixed.output)
        XCTAssertTrue(mixed.output.contains("bad.yaml: train.epochs"), mixed.output)
        XCTAssertEqual(try daemon.advctl(["list", "--json"]).output, before, "a refused batch queued something")
        // - reads a manifest from standard input
        let piped = try AdvdProcess.run(executable: "/bin/sh", arguments: ["-c", "\"$0\" submit - < \"$1\"", DaemonHarness.advctlPath,
                                                                          daemon.root + "/good.yaml"],
                                        environment: ["ADVD_SOCKET": daemon.socketPath])
        XCTAssertEqual(piped.status, 0, piped.output)
        XCTAssertTrue(piped.output.hasSuffix("\t-\n"), piped.output)
        // unknown jobs and a daemon that is gone have their own exit statuses
        XCTAssertEqual(try daemon.advctl(["show", "42"]).status, 5)
        XCTAssertEqual(daemon.stop(SIGTERM), 0)
        XCTAssertTrue(daemon.waitForNotification("STOPPING=1", seconds: 1), "\(daemon.notifications)")
        let gone = try daemon.advctl(["status"])
        XCTAssertEqual(gone.status, 3)
        XCTAssertTrue(gone.output.contains("the advd daemon is not running"), gone.output)
    }

    func testAJobWhoseDataIsMissingFailsWithTheReason() throws {
        let daemon = try DaemonHarness()
        try FileManager.default.createDirectory(atPath: daemon.root + "/empty-idx", withIntermediateDirectories: true)
        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"))
        try Self.tinyManifest.replacingOccurrences(of: "{name: blobs, classes: 3, dimensions: 8, train_examples: 240, test_examples: 60}",
                                                   with: "{name: idx, path: \(daemon.root)/empty-idx}")
            .write(toFile: daemon.root + "/idx.yaml", atomically: true, encoding: .utf8)
        let submitted = try daemon.advctl(["submit", daemon.root + "/idx.yaml"])
        XCTAssertEqual(submitted.status, 0, submitted.output)
        let job = try daemon.waitForJob(1, in: ["succeeded", "failed"])
        XCTAssertEqual(job["state"] as? String, "failed")
        XCTAssertTrue((job["error"] as? String)?.contains("empty-idx: missing train-images-idx3-ubyte.gz") == true, "\(job)")
        XCTAssertEqual(job["attempts"] as? Int, 1, "an experiment at fault is not retried")
        let results = try daemon.advctl(["results", "1"])
        XCTAssertEqual(results.status, 1)
        XCTAssertTrue(results.output.contains("job 1 has no results: it is failed"), results.output)
        let logs = try daemon.advctl(["logs", "1"])
        XCTAssertTrue(logs.output.contains("error: "), logs.output)
    }

    func testSIGHUPReloadsTheConfiguration() throws {
        let daemon = try DaemonHarness()
        daemon.workerFlags = nil
        try "workers: 2\nthreads_per_job: 1\n".write(toFile: daemon.root + "/advd.yaml", atomically: true, encoding: .utf8)
        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"))
        XCTAssertTrue(try daemon.advctl(["status"]).output.contains("0 busy, 2 idle"))
        try "workers: 1\nthreads_per_job: 1\n".write(toFile: daemon.root + "/advd.yaml", atomically: true, encoding: .utf8)
        kill(daemon.process!.processIdentifier, SIGHUP)
        XCTAssertTrue(daemon.waitForNotification("RELOADING=1"), "\(daemon.notifications)")
        let deadline = Date().addingTimeInterval(10)
        var status = ""
        while Date() < deadline {
            status = try daemon.advctl(["status"]).output
            if status.contains("0 busy, 1 idle") { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertTrue(status.contains("0 busy, 1 idle"), status)
        // a broken file is refused and the running configuration kept
        try "workers: lots\n".write(toFile: daemon.root + "/advd.yaml", atomically: true, encoding: .utf8)
        kill(daemon.process!.processIdentifier, SIGHUP)
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertTrue(try daemon.advctl(["status"]).output.contains("0 busy, 1 idle"))
    }

    func testMalformedRequestsGetErrorsAndTheDaemonStaysUp() throws {
        let daemon = try DaemonHarness()
        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"))
        let cases = [("not json", "not a valid request: not JSON"),
                     ("{\"version\": 3}", "not a valid request: missing field command"),
                     ("{\"version\": 3, \"command\": \"reboot\"}", "unknown command \\\"reboot\\\"; expected one of status, submit"),
                     ("{\"version\": 1, \"command\": \"status\"}", "protocol version 1 is not supported; this daemon speaks version 3"),
                     ("{\"version\": 3, \"command\": \"show\"}", "show: missing field arguments"),
                     ("{\"version\": 3, \"command\": \"show\", \"arguments\": {}}", "show: missing field arguments.job"),
                     ("{\"version\": 3, \"command\": \"cancel\", \"arguments\": {\"job\": \"x\"}}", "cancel: wrong type at arguments.job"),
                     (String(repeating: "x", count: 1_100_000), "request longer than")]
        for (request, expected) in cases {
            let answer = try rawRequest(request, socket: daemon.socketPath)
            XCTAssertTrue(answer.contains("\"ok\":false") && answer.contains(expected), "\(request.prefix(60)): \(answer)")
        }
        XCTAssertEqual(try daemon.advctl(["status"]).status, 0)
    }

    /// Sends one raw line and returns the answer line.
    private func rawRequest(_ line: String, socket path: String) throws -> String {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        XCTAssertEqual(UnixSocketAddress(path: path)?.connect(descriptor), 0)
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received = [UInt8](), chunk = [UInt8](repeating: 0, count: 4096)
        while !received.contains(0x0A) {
            let count = recv(descriptor, &chunk, chunk.count, 0)
            guard count > 0 else { break }
            received += chunk[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    private func assertInterruptionIsInvisible(signal: Int32) throws {
        let daemon = try DaemonHarness()
        let reference = try uninterruptedRun(Self.longManifest, in: daemon.root)
        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"))
        try daemon.drop(Self.longManifest, as: "long.yaml")
        XCTAssertTrue(waitForTrainingCheckpoint(in: daemon.stateFolder + "/jobs/1"), "training never reached step 80")
        let status = daemon.stop(signal)
        if signal == SIGTERM { XCTAssertEqual(status, 0, "a SIGTERM stop exits 0") }
        let jobFolder = daemon.stateFolder + "/jobs/1"
        XCTAssertFalse(FileManager.default.fileExists(atPath: jobFolder + "/model.safetensors"), "the job finished before the stop")

        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"))
        let job = try daemon.waitForJob(1, in: ["succeeded", "failed"], seconds: 240)
        XCTAssertEqual(job["state"] as? String, "succeeded", "\(job)")
        let listed = try daemon.advctl(["list", "--json"])
        let jobs = try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [Any]
        XCTAssertEqual(jobs?.count, 1, "the job was recorded once: \(listed.output)")
        let events = (job["events"] as? [[String: Any]])?.compactMap { $0["message"] as? String } ?? []
        XCTAssertEqual(events.filter { $0 == "running" }.count, 2, "\(events)")
        XCTAssertEqual(job["attempts"] as? Int, 1, "an interruption is not an attempt")
        XCTAssertEqual(FileManager.default.contents(atPath: jobFolder + "/model.safetensors"),
                       FileManager.default.contents(atPath: reference + "/model.safetensors"), "weights differ from an uninterrupted run")
        XCTAssertEqual(timelessMetrics(jobFolder + "/metrics.json"), timelessMetrics(reference + "/metrics.json"),
                       "metrics differ from an uninterrupted run")
    }

    func testAJobKilledWithItsDaemonResumesToIdenticalResults() throws {
        try assertInterruptionIsInvisible(signal: SIGKILL)
    }

    func testAGracefulStopCheckpointsAndResumesToIdenticalResults() throws {
        try assertInterruptionIsInvisible(signal: SIGTERM)
    }

    /// Two real users: root submits, nobody (uid 65534, in the socket's group) may read but not cancel.
    func testAnotherUserCannotCancelSomeoneElsesJob() throws {
        try XCTSkipUnless(getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") && getgrnam("nogroup") != nil,
                          "needs root, setpriv and the nogroup group to act as a second user")
        let daemon = try DaemonHarness()
        daemon.socketGroup = "nogroup"
        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"))
        try Self.longManifest.write(toFile: daemon.root + "/long.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try daemon.advctl(["submit", daemon.root + "/long.yaml"]).status, 0)
        let nobody = (uid: UInt32(65534), gid: getgrnam("nogroup")!.pointee.gr_gid)
        let list = try daemon.advctl(["list"], as: nobody)
        XCTAssertEqual(list.status, 0, list.output)
        let cancel = try daemon.advctl(["cancel", "1"], as: nobody)
        XCTAssertEqual(cancel.status, 4, cancel.output)
        XCTAssertTrue(cancel.output.contains("job 1 belongs to uid 0; only that user or root may change it"), cancel.output)
        XCTAssertNotEqual(try daemon.job(1)["state"] as? String, "cancelled")
        // without the socket's group the daemon cannot even be reached
        let outsider = try daemon.advctl(["status"], as: (uid: 65534, gid: 65533))
        XCTAssertEqual(outsider.status, 4, outsider.output)
        XCTAssertTrue(outsider.output.contains("permission denied"), outsider.output)
    }

    func testCancellingARunningJob() throws {
        let daemon = try DaemonHarness()
        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"))
        try Self.longManifest.write(toFile: daemon.root + "/long.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try daemon.advctl(["submit", daemon.root + "/long.yaml"]).status, 0)
        _ = try daemon.waitForJob(1, in: ["running"])
        let cancel = try daemon.advctl(["cancel", "1"])
        XCTAssertEqual(cancel.status, 0, cancel.output)
        let job = try daemon.waitForJob(1, in: ["cancelled", "succeeded", "failed"], seconds: 30)
        XCTAssertEqual(job["state"] as? String, "cancelled", "\(job)")
        let retry = try daemon.advctl(["retry", "1"])
        XCTAssertEqual(retry.status, 0, retry.output)
        XCTAssertEqual(try daemon.waitForJob(1, in: ["succeeded", "failed"], seconds: 240)["state"] as? String, "succeeded")
    }
}
