import AdvDaemon
import AdvNN
import AdvProtocol
import AdvTestSupport
import Foundation
import Logging
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The daemon started and stopped inside the test process, on temporary folders: every request goes
/// through its handler (and one through the real socket), its jobs run as real `advd run --supervised`
/// processes, and a stop returns instead of exiting, so a second daemon can open the same state.
@Suite(.enabled(if: AdvdProcess.isBuilt, "needs the advd executable beside the tests"))
struct InProcessDaemonTests {
    static let root = PeerCredentials(pid: 1, uid: 0, gid: 0)
    static let alice = PeerCredentials(pid: 2, uid: 1000, gid: 1000)
    static let bob = PeerCredentials(pid: 3, uid: 2000, gid: 2000)

    static let quick = """
        name: quick
        seed: 3
        dataset: {name: blobs, classes: 3, dimensions: 8, train_examples: 240, test_examples: 60}
        model: {architecture: linear}
        train: {epochs: 2, batch_size: 32}
        threat_model: {norm: linf, epsilon: 0.5}
        evaluation: {attacks: [{name: pgd, steps: 3}], sanity_checks: false}
        """

    static func configuration(in folder: TemporaryFolder) -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        configuration.stateFolder = folder.file("state")
        configuration.spools = [SpoolFolder(path: folder.file("spool"))]
        configuration.socketPath = folder.file("advd.sock")
        configuration.socketGroup = nil
        configuration.workers = 1
        configuration.threadsPerJob = 1
        configuration.datasetRoots = []
        configuration.stopTimeoutSeconds = 20
        return configuration
    }

    static func daemon(in folder: TemporaryFolder) -> Daemon {
        Daemon(configuration: configuration(in: folder), reloadConfiguration: nil, executable: AdvdProcess.path,
               logger: Logger(label: "advd.test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    static func submit(_ text: String, to daemon: Daemon, as peer: PeerCredentials) throws -> Int64 {
        let response = daemon.respond(to: .submit([Submission(manifest: text, manifestName: "\(peer.uid).yaml")]), from: peer)
        guard case let .submitted(manifests) = response, let id = manifests.first?.ids.first else { throw TestFailure("submit answered \(response)") }
        return id
    }

    static func job(_ id: Int64, of daemon: Daemon) throws -> JobInfo {
        let response = daemon.respond(to: .show(JobReference(job: id)), from: root)
        guard case let .job(info) = response else { throw TestFailure("show answered \(response)") }
        return info
    }

    /// Polls until job `id` is in one of `states`.
    static func wait(for id: Int64, of daemon: Daemon, in states: Set<JobState>, seconds: Double = 240) throws -> JobInfo {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let info = try job(id, of: daemon)
            if states.contains(info.state) { return info }
            guard Date() < deadline else { throw TestFailure("job \(id) still \(info.state) after \(seconds) s") }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    static func failure(_ response: Response) -> ProtocolError? {
        if case let .failure(error) = response { return error }
        return nil
    }

    @Test func theHandlerAnswersEveryCommandAndTheDaemonStopsWithoutExiting() throws {
        let folder = TemporaryFolder()
        let daemon = Self.daemon(in: folder)
        try daemon.start()

        guard case let .status(status) = daemon.respond(to: .status, from: Self.root) else { throw TestFailure("status") }
        #expect(status.workers == 1 && status.threadsPerJob == 1 && status.pid == getpid())
        #expect(status.machine?.contains("kernel \(BLAS.coreName)") == true && (status.sgemmGflops ?? 0) > 0, "\(status)")

        let invalid = daemon.respond(to: .submit([Submission(manifest: "dataset: {name: blobz}", manifestName: "bad.yaml")]), from: Self.alice)
        #expect(Self.failure(invalid)?.code == .invalidManifest)
        #expect(Self.failure(invalid)?.message.contains("bad.yaml: dataset.name: expected one of") == true)
        // a batch is queued all together or not at all; the error names the bad file
        let batch = daemon.respond(to: .submit([Submission(manifest: Self.quick, manifestName: "a.yaml"),
                                                Submission(manifest: "dataset: {name: blobz}", manifestName: "bad.yaml"),
                                                Submission(manifest: Self.quick, manifestName: "c.yaml")]), from: Self.alice)
        #expect(Self.failure(batch)?.message.hasPrefix("bad.yaml: dataset.name") == true)
        guard case let .jobs(none) = daemon.respond(to: .list(ListQuery()), from: Self.alice) else { throw TestFailure("list") }
        #expect(none.isEmpty, "a refused batch queued \(none.count) job(s)")
        // every input is bounded, and refused with the bound it broke
        let limits: [(Submission, String)] = [
            (Submission(manifest: Self.quick, manifestName: "p.yaml", priority: Int.max), "p.yaml: priority \(Int.max) is outside -1000…1000"),
            (Submission(manifest: Self.quick, manifestName: "l.yaml", labels: (0..<17).map { "l\($0)" }), "l.yaml: 17 labels; at most 16"),
            (Submission(manifest: Self.quick, manifestName: "w.yaml", labels: [String(repeating: "x", count: 100_000)]),
             "w.yaml: label \"xxxx"),
            (Submission(manifest: Self.quick + "\n#" + String(repeating: "x", count: 300_000), manifestName: "big.yaml"),
             "big.yaml: the manifest is 300"),
            (Submission(manifest: "name: \"" + String(repeating: "n", count: 1_000) + "\"\n" + Self.quick.replacingOccurrences(of: "name: quick\n", with: ""),
                        manifestName: "n.yaml"), "n.yaml: name: expected 1–100 letters, digits"),
        ]
        for (submission, message) in limits {
            let refusal = Self.failure(daemon.respond(to: .submit([submission]), from: Self.alice))
            #expect(refusal?.message.hasPrefix(message) == true, "\(refusal?.message.prefix(200) ?? "accepted")")
        }

        let slow = try Self.submit(TestManifests.slow, to: daemon, as: Self.alice)
        _ = try Self.wait(for: slow, of: daemon, in: [.running])
        let quick = try Self.submit(Self.quick, to: daemon, as: Self.alice)   // waits: the one worker is busy
        #expect(try Self.job(quick, of: daemon).state == .queued)

        #expect(Self.failure(daemon.respond(to: .show(JobReference(job: 99)), from: Self.root))?.code == .notFound)
        let notBobs = daemon.respond(to: .cancel(JobReference(job: quick)), from: Self.bob)
        #expect(Self.failure(notBobs)?.code == .permissionDenied)
        let notFinished = daemon.respond(to: .retry(JobReference(job: quick)), from: Self.alice)
        #expect(Self.failure(notFinished)?.message == "job \(quick) is queued; cannot retry it (only a job that is failed, cancelled or recording-failed can be)")
        let noResults = daemon.respond(to: .results(JobReference(job: quick)), from: Self.alice)
        #expect(Self.failure(noResults)?.code == .conflict)

        #expect(daemon.respond(to: .cancel(JobReference(job: quick)), from: Self.alice).reply == .done)
        #expect(try Self.job(quick, of: daemon).state == .cancelled)
        #expect(daemon.respond(to: .retry(JobReference(job: quick)), from: Self.root).reply == .done)   // root may
        guard case let .jobs(queued) = daemon.respond(to: .list(ListQuery(states: [.queued])), from: Self.bob) else {
            throw TestFailure("list")
        }
        #expect(queued.map(\.id) == [quick])

        // the running job stops within a step, and the queued one takes its worker
        #expect(daemon.respond(to: .cancel(JobReference(job: slow)), from: Self.alice).reply == .done)
        #expect(try Self.wait(for: slow, of: daemon, in: [.cancelled, .failed, .succeeded]).state == .cancelled)
        let done = try Self.wait(for: quick, of: daemon, in: [.succeeded, .failed, .cancelled])
        #expect(done.state == .succeeded, "\(done.error ?? "")")
        guard case let .results(results) = daemon.respond(to: .results(JobReference(job: quick)), from: Self.bob) else {
            throw TestFailure("results")
        }
        #expect(results.evaluation.examples == 60 && results.evaluation.attacks.count == 1)
        guard case let .logs(log) = daemon.respond(to: .logs(LogQuery(job: quick)), from: Self.bob) else { throw TestFailure("logs") }
        #expect(log.finished && log.text.contains("done: clean"))
        guard case let .artifacts(artifacts) = daemon.respond(to: .artifacts(JobReference(job: quick)), from: Self.bob) else {
            throw TestFailure("artifacts")
        }
        #expect(Set(artifacts.map(\.kind)).isSuperset(of: ["model", "metrics", "report", "log"]))

        // the same handler over the real socket
        let answer = try Self.exchange(Request.show(JobReference(job: quick)), socket: folder.file("advd.sock"))
        guard case let .job(shown) = answer else { throw TestFailure("the socket answered \(answer)") }
        #expect(shown.state == .succeeded && shown.events?.isEmpty == false)

        #expect(daemon.stopAndWait(seconds: 30), "the daemon did not stop")
        #expect(!FileManager.default.fileExists(atPath: folder.file("advd.sock")))
        #expect(Self.failure(daemon.respond(to: .submit([Submission(manifest: Self.quick, manifestName: "late.yaml")]), from: Self.alice))?
            .code == .unavailable)

        // a second daemon in the same process opens the same state
        let again = Self.daemon(in: folder)
        try again.start()
        #expect(try Self.job(quick, of: again).state == .succeeded)
        #expect(try Self.job(slow, of: again).state == .cancelled)
        #expect(again.stopAndWait(seconds: 30))
    }

    /// Two small Fashion-MNIST runs that differ in their training method.
    static func fashion(_ method: String) -> String {
        """
        name: fashion-\(method)
        seed: 2
        dataset: {name: fashion-mnist, train_examples: 400, test_examples: 40}
        model: {architecture: mlp, hidden: [16]}
        train: {method: \(method), epochs: 1, batch_size: 50}
        threat_model: {norm: linf, epsilon: 0.1}
        evaluation: {attacks: [{name: pgd, steps: 3}], epsilon_curve: [0.05, 0.1], sanity_checks: {probe_examples: 16}}
        """
    }

    /// `report` and `compare` through the handler, list's result columns, and the report a failed job
    /// gets from the daemon.
    @Test func reportsComparisonsAndFailureReports() throws {
        let folder = TemporaryFolder()
        let daemon = Self.daemon(in: folder)
        try daemon.start()
        defer { _ = daemon.stopAndWait(seconds: 30) }
        let standard = try Self.submit(Self.fashion("standard"), to: daemon, as: Self.alice)
        let adversarial = try Self.submit(Self.fashion("pgd-at"), to: daemon, as: Self.alice)
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: folder.file("garbage.safetensors")))
        let broken = try Self.submit("""
            name: broken
            dataset: {name: fashion-mnist, test_examples: 10}
            model: {weights: \(folder.file("garbage.safetensors"))}
            threat_model: {norm: linf, epsilon: 0.1}
            evaluation: {attacks: [{name: fgsm}]}
            """, to: daemon, as: Self.alice)
        for id in [standard, adversarial] {
            let done = try Self.wait(for: id, of: daemon, in: [.succeeded, .failed, .cancelled])
            #expect(done.state == .succeeded, "\(done.error ?? "")")
        }
        #expect(try Self.wait(for: broken, of: daemon, in: [.succeeded, .failed, .cancelled]).state == .failed)

        // report: the page in the job folder; inlined, its images travel inside it
        guard case let .report(report) = daemon.respond(to: .report(ReportQuery(job: standard)), from: Self.bob) else {
            throw TestFailure("report")
        }
        #expect(report.path.hasSuffix("/report.html") && report.html.contains("<svg") && report.html.contains("src=\"examples/"))
        guard case let .report(inlined) = daemon.respond(to: .report(ReportQuery(job: standard, inlineImages: true)), from: Self.bob) else {
            throw TestFailure("report --output")
        }
        #expect(!inlined.html.contains("src=\"examples/") && inlined.html.contains("src=\"data:image/png;base64,"))
        // a failed job's report says why, from the daemon
        guard case let .report(failed) = daemon.respond(to: .report(ReportQuery(job: broken)), from: Self.bob) else {
            throw TestFailure("failed report")
        }
        #expect(failed.html.contains("This run failed") && failed.html.contains("garbage.safetensors"))

        // compare: the differing setting, each run's results, and the page with both curves
        guard case let .comparison(comparison) = daemon.respond(to: .compare(CompareQuery(jobs: [standard, adversarial])), from: Self.bob) else {
            throw TestFailure("compare")
        }
        #expect(comparison.jobs == ["#\(standard) fashion-standard", "#\(adversarial) fashion-pgd-at"])
        #expect(comparison.settings.first { $0.name == "train.method" }?.values == ["standard", "pgd-at"])
        #expect(!comparison.settings.contains { $0.name == "seed" || $0.name == "name" })
        #expect(comparison.results.map(\.name).prefix(3) == ["clean", "after PGD-3 (L∞, CE, 1 restart)", "worst case"])
        #expect(comparison.html.contains("Robust accuracy over ε") && comparison.html.contains("fashion-pgd-at"))
        #expect(Self.failure(daemon.respond(to: .compare(CompareQuery(jobs: [standard, broken])), from: Self.bob))?.code == .conflict)

        // list: the headline results of succeeded jobs, the newest first cut by --limit
        guard case let .jobs(jobs) = daemon.respond(to: .list(ListQuery(limit: 2)), from: Self.bob) else { throw TestFailure("list") }
        #expect(jobs.map(\.id) == [adversarial, broken])
        #expect(jobs[0].outcome != nil && jobs[1].outcome == nil)
        guard case let .results(results) = daemon.respond(to: .results(JobReference(job: adversarial)), from: Self.bob) else {
            throw TestFailure("results")
        }
        #expect(jobs[0].outcome?.worstCaseRobustAccuracy == results.evaluation.worstCaseRobustAccuracy)
        guard case let .jobs(none) = daemon.respond(to: .list(ListQuery(since: Date().addingTimeInterval(3600))), from: Self.bob) else {
            throw TestFailure("list --since")
        }
        #expect(none.isEmpty)
    }

    /// The scheduler: never more jobs at once than workers, and a freed worker takes the most urgent
    /// queued job (priority, then age).
    /// A sweep under the local executor: one job per point in one group, its summary over seeds; a
    /// point that is not a valid manifest refuses the whole sweep and is named.
    @Test func aSweepBecomesAGroupOfJobsWithMeansOverSeeds() throws {
        let folder = TemporaryFolder()
        let daemon = Self.daemon(in: folder)
        try daemon.start()
        defer { daemon.stopAndWait(seconds: 30) }
        let grid = Self.quick + "\nsweep:\n  grid: {model.architecture: [linear, mlp]}\n  seeds: [1, 2]\n"
        let broken = grid.replacingOccurrences(of: "[linear, mlp]", with: "[linear, perceptron]")
        let refusal = Self.failure(daemon.respond(to: .submit([Submission(manifest: broken, manifestName: "grid.yaml")]), from: Self.alice))
        #expect(refusal?.message.hasPrefix("grid.yaml [model.architecture=perceptron, seed=1]: model.architecture: expected one of") == true,
                "\(refusal?.message ?? "accepted")")

        let response = daemon.respond(to: .submit([Submission(manifest: grid, manifestName: "grid.yaml")]), from: Self.alice)
        guard case let .submitted(manifests) = response, let sweep = manifests.first, let group = sweep.group else {
            throw TestFailure("submit answered \(response)")
        }
        #expect(sweep.ids.count == 4 && group == "quick-\(sweep.ids[0])")
        for id in sweep.ids { #expect(try Self.wait(for: id, of: daemon, in: [.succeeded, .failed]).state == .succeeded) }
        guard case let .jobs(jobs) = daemon.respond(to: .list(ListQuery(group: group)), from: Self.alice) else { throw TestFailure("list") }
        #expect(jobs.map(\.name) == ["quick-linear-seed1", "quick-linear-seed2", "quick-mlp-seed1", "quick-mlp-seed2"])
        let summary = SweepSummary(jobs: jobs)
        #expect(summary.keys == ["model.architecture"] && summary.rows.map(\.values) == [["linear"], ["mlp"]])
        #expect(summary.rows.allSatisfy { $0.clean?.count == 2 && $0.clean?.standardDeviation != nil && $0.seeds == ["1", "2"] })
    }

    @Test func theSchedulerRunsAtMostItsWorkersAndTheMostUrgentFirst() throws {
        let folder = TemporaryFolder()
        let daemon = Self.daemon(in: folder)
        try daemon.start()
        defer { daemon.stopAndWait(seconds: 30) }
        let slow = try Self.submit(TestManifests.slow, to: daemon, as: Self.alice)
        _ = try Self.wait(for: slow, of: daemon, in: [.running])
        func submit(priority: Int) throws -> Int64 {
            let response = daemon.respond(to: .submit([Submission(manifest: Self.quick, manifestName: "p\(priority).yaml", priority: priority)]),
                                          from: Self.alice)
            guard case let .submitted(manifests) = response, let id = manifests.first?.ids.first else { throw TestFailure("submit answered \(response)") }
            return id
        }
        let older = try submit(priority: 0), urgent = try submit(priority: 5)
        guard case let .status(status) = daemon.respond(to: .status, from: Self.root) else { throw TestFailure("status") }
        #expect(status.running == 1 && status.queued == 2 && status.busyWorkers == 1)

        #expect(daemon.respond(to: .cancel(JobReference(job: slow)), from: Self.alice).reply == .done)
        let first = try Self.wait(for: urgent, of: daemon, in: [.succeeded, .failed])
        let second = try Self.wait(for: older, of: daemon, in: [.succeeded, .failed])
        #expect(first.state == .succeeded && second.state == .succeeded)
        let firstStart = try #require(first.startedAt), secondStart = try #require(second.startedAt)
        #expect(firstStart <= secondStart, "the priority-5 job should start before the older priority-0 one")
    }

    /// A second daemon on the same state folder would requeue the first one's running jobs and run
    /// them twice: it refuses to start, naming the first; once the first stops, it starts.
    @Test func oneDaemonPerStateFolder() throws {
        let folder = TemporaryFolder()
        let first = Self.daemon(in: folder)
        try first.start()
        var other = Self.configuration(in: folder)
        other.socketPath = folder.file("other.sock")
        let second = Daemon(configuration: other, reloadConfiguration: nil, executable: AdvdProcess.path,
                            logger: Logger(label: "advd.test", factory: { _ in SwiftLogNoOpLogHandler() }))
        expectError(containing: ["\(folder.file("state")): another advd (pid \(getpid())) is using this state folder"]) {
            try second.start()
        }
        #expect(!FileManager.default.fileExists(atPath: folder.file("other.sock")), "the refused daemon bound nothing")
        #expect(first.stopAndWait(seconds: 30))
        try second.start()
        #expect(second.stopAndWait(seconds: 30))
    }

    @Test func aStopInterruptsRunningJobsAndTheNextStartResumesThem() throws {
        let folder = TemporaryFolder()
        let daemon = Self.daemon(in: folder)
        try daemon.start()
        let slow = try Self.submit(TestManifests.slow, to: daemon, as: Self.alice)
        _ = try Self.wait(for: slow, of: daemon, in: [.running])
        #expect(daemon.stopAndWait(seconds: 30))

        let again = Self.daemon(in: folder)
        try again.start()
        let resumed = try Self.wait(for: slow, of: again, in: [.running])
        #expect(resumed.attempts == 1, "an interruption is not an attempt")
        #expect(resumed.events?.contains { $0.message.hasPrefix("interrupted with its progress saved") } == true)
        #expect(again.respond(to: .cancel(JobReference(job: slow)), from: Self.alice).reply == .done)
        _ = try Self.wait(for: slow, of: again, in: [.cancelled])
        #expect(again.stopAndWait(seconds: 30))
    }

    /// One request over the Unix socket, as advctl sends it.
    static func exchange(_ request: Request, socket path: String) throws -> Response {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        guard UnixSocketAddress(path: path)?.connect(descriptor) == 0 else { throw TestFailure("cannot connect to \(path)") }
        let line = try request.encodedLine()
        _ = line.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received = [UInt8](), chunk = [UInt8](repeating: 0, count: 65_536)
        while !received.contains(0x0A) {
            let count = recv(descriptor, &chunk, chunk.count, 0)
            guard count > 0 else { break }
            received += chunk[0..<count]
        }
        guard let end = received.firstIndex(of: 0x0A) else { throw TestFailure("no answer") }
        return try Response.decode(Data(received[..<end]))
    }
}
