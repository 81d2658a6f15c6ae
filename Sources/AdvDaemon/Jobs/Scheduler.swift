import AdvNN
import AdvProtocol
import AdvRobust
import Dispatch
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The worker pool: up to `workers` jobs at once, the most urgent first (priority, then age), each
/// in its own `advd run --supervised` process. Everything here runs on one serial Dispatch queue and
/// only reacts — to a new job, a child's progress line or exit, a cancel — so nothing waits busily.
public final class Scheduler: @unchecked Sendable {
    struct RunningJob {
        let info: JobInfo
        let process: JobProcess
        var cancelRequested = false
        var lastProgressWrite = Date.distantPast
        var progress: JobProgress?
    }

    let store: JobStore
    private(set) var configuration: DaemonConfiguration
    let executable: String
    let logger: Logger
    let queue = DispatchQueue(label: "advd.scheduler")
    private var running: [Int64: RunningJob] = [:]
    private var accepting = true
    /// Called on the scheduler's queue whenever the number of running or queued jobs may have changed.
    var onChange: () -> Void = {}

    init(store: JobStore, configuration: DaemonConfiguration, executable: String, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.executable = executable
        self.logger = logger
    }

    func start() {
        wake()
    }

    /// A reloaded configuration: worker count and threads apply to jobs started from now on.
    func update(_ configuration: DaemonConfiguration) {
        queue.async {
            self.configuration = configuration
            self.fill()
        }
    }

    /// Starts queued jobs while workers are free.
    func wake() {
        queue.async { self.fill() }
    }

    /// Workers busy now (read from any thread: a snapshot from the queue).
    var busyWorkers: Int { queue.sync { running.count } }

    /// The latest progress of a running job, fresher than the database's copy.
    func progress(of id: Int64) -> JobProgress? { queue.sync { running[id]?.progress } }

    /// Cancels a queued job at once, or asks a running one to stop after its current step.
    /// - Throws: `ProtocolError` when the job is unknown or already finished.
    func cancel(_ id: Int64) throws {
        if try store.cancelIfQueued(id) { queue.async { self.onChange() }; return }
        let found: Bool = queue.sync {
            guard var job = running[id] else { return false }
            job.cancelRequested = true
            running[id] = job
            job.process.terminate()
            return true
        }
        guard found else {
            guard let job = try store.job(id) else { throw ProtocolError(code: .notFound, message: "no job \(id)") }
            throw ProtocolError(code: .conflict, message: "job \(id) is \(job.state.rawValue); only queued or running jobs can be cancelled")
        }
        try? store.addEvent(id, kind: "info", message: "cancellation requested")
    }

    /// Stops taking jobs, asks every running job to checkpoint and stop, and calls `completion` when
    /// all have exited (those still running after `timeout` seconds are killed: they resume from their
    /// last checkpoint). Their jobs are left interrupted, to be queued again at the next start.
    func shutdown(timeout: Double, completion: @escaping @Sendable () -> Void) {
        queue.async {
            self.accepting = false
            if self.running.isEmpty { return completion() }
            for job in self.running.values { job.process.terminate() }
            self.awaitExits(deadline: DispatchTime.now() + timeout, timeout: timeout, completion: completion)
        }
    }

    private func awaitExits(deadline: DispatchTime, timeout: Double, completion: @escaping @Sendable () -> Void) {
        if running.isEmpty { return completion() }
        if DispatchTime.now() >= deadline {
            logger.warning("jobs still running after \(timeout) s: killing them; they resume from their last checkpoint")
            for job in running.values { job.process.forceKill() }
        }
        queue.asyncAfter(deadline: .now() + 0.1) { self.awaitExits(deadline: deadline, timeout: timeout, completion: completion) }
    }

    // MARK: On the queue

    private func fill() {
        while accepting && running.count < configuration.resolvedWorkers {
            let claimed: JobInfo?
            do { claimed = try store.claimNext() } catch {
                logger.error("cannot read the job queue: \(error)")
                return
            }
            guard let job = claimed else { break }
            launch(job)
        }
        onChange()
    }

    private func launch(_ job: JobInfo) {
        let folder = job.outputFolder
        let manifestPath = folder + "/" + Self.fileName(for: job.name) + ".yaml"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: manifestPath) {
                let text = try store.manifest(job.id) ?? ""
                try Data(text.utf8).write(to: URL(fileURLWithPath: manifestPath), options: .atomic)
            }
            let process = try JobProcess.launch(
                executable: executable,
                arguments: ["run", manifestPath, "--out", folder, "--threads", String(configuration.resolvedThreadsPerJob), "--supervised",
                            "--jobs-folder", configuration.jobsFolder],
                logPath: folder + "/job.log", queue: queue,
                onEvent: { [weak self] in self?.handle($0, of: job.id) },
                onExit: { [weak self] in self?.finished(job.id, status: $0) })
            running[job.id] = RunningJob(info: job, process: process)
            logger.info("job started", metadata: ["job_id": "\(job.id)", "job_state": "running", "pid": "\(process.pid)",
                                                  "attempt": "\(job.attempts)"])
        } catch {
            logger.error("job \(job.id) could not start: \(error)", metadata: ["job_id": "\(job.id)", "job_state": "failed"])
            try? store.finish(job.id, state: .failed, error: "could not start: \(error)")
        }
    }

    /// The job folder's manifest name: the job name with anything but letters, digits, `-`, `_` and `.` replaced.
    static func fileName(for name: String) -> String {
        let cleaned = String(name.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
        return cleaned.isEmpty || cleaned.hasPrefix(".") ? "manifest" : cleaned
    }

    private func handle(_ event: SupervisedEvent, of id: Int64) {
        guard var job = running[id] else { return }
        job.progress = event.progress
        if let epoch = event.epoch { try? store.recordEpoch(id, epoch) }
        // the database copy is for readers after a restart; a few writes a second at most
        if event.kind != .step || Date().timeIntervalSince(job.lastProgressWrite) >= 2 {
            try? store.updateProgress(id, event.progress)
            job.lastProgressWrite = Date()
        }
        running[id] = job
    }

    private func finished(_ id: Int64, status: Int32) {
        guard let job = running.removeValue(forKey: id) else { return }
        let metadata: Logger.Metadata = ["job_id": "\(id)"]
        do {
            switch WaitStatus(status) {
            case .exited(SupervisedRun.ExitStatus.succeeded.rawValue):
                let results = try Self.results(of: job.info)
                try store.recordSuccess(id, results: results)
                logger.info("job succeeded: clean \(Self.percent(results.cleanAccuracy)), worst case \(Self.percent(results.worstCaseRobustAccuracy))",
                            metadata: metadata.merging(["job_state": "succeeded"]) { $1 })
            case .exited(SupervisedRun.ExitStatus.interrupted.rawValue) where job.cancelRequested:
                try store.finish(id, state: .cancelled, error: "cancelled while running")
                logger.info("job cancelled", metadata: metadata.merging(["job_state": "cancelled"]) { $1 })
            case .exited(SupervisedRun.ExitStatus.interrupted.rawValue), .exited(SupervisedRun.ExitStatus.orphaned.rawValue):
                try store.finish(id, state: .interrupted, error: nil, countsAsAttempt: false)
                logger.info("job interrupted with its progress saved", metadata: metadata.merging(["job_state": "interrupted"]) { $1 })
            case .exited(SupervisedRun.ExitStatus.failed.rawValue):
                let reason = Self.lastError(in: job.info.outputFolder + "/job.log") ?? "the run failed (see advctl logs \(id))"
                try store.finish(id, state: .failed, error: reason)
                logger.error("job failed: \(reason)", metadata: metadata.merging(["job_state": "failed"]) { $1 })
            case let outcome:
                let cause: String
                switch outcome {
                case let .signaled(signal) where signal == SIGKILL:
                    cause = "killed by SIGKILL (out of memory, or killed by hand)"
                case let .signaled(signal): cause = "crashed with signal \(signal) (\(String(cString: strsignal(signal))))"
                case let .exited(code): cause = "exited with status \(code)"
                }
                if job.cancelRequested {
                    try store.finish(id, state: .cancelled, error: "cancelled while running")
                } else if job.info.attempts < configuration.maxAttempts {
                    try store.finish(id, state: .queued, error: cause)
                    try store.addEvent(id, kind: "info", message: "\(cause); attempt \(job.info.attempts) of \(configuration.maxAttempts), queued again to resume")
                    logger.warning("job \(cause); queued again", metadata: metadata.merging(["job_state": "queued"]) { $1 })
                } else {
                    try store.finish(id, state: .failed, error: "\(cause), \(job.info.attempts) times")
                    logger.error("job \(cause); giving up", metadata: metadata.merging(["job_state": "failed"]) { $1 })
                }
            }
        } catch {
            logger.error("job \(id) ended but could not be recorded: \(error)", metadata: metadata)
            try? store.finish(id, state: .failed, error: "ended, but its results could not be recorded: \(error)")
        }
        fill()
    }

    /// The results of a finished run, from its metrics.json.
    static func results(of job: JobInfo) throws -> JobResults {
        let path = job.outputFolder + "/metrics.json"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw DaemonError("\(path) is missing") }
        let metrics = try JSONCoding.decode(RunMetrics.self, from: text)
        let report = metrics.evaluation
        return JobResults(
            job: job.id, threatModel: report.threatModel + (report.defense.map { ", defense: \($0)" } ?? ""), examples: report.examples,
            cleanAccuracy: report.cleanAccuracy, worstCaseRobustAccuracy: report.worstCaseRobustAccuracy,
            attacks: report.attacks.map { AttackResult(name: $0.name, robustAccuracyAfter: $0.robustAccuracyAfter, newlyBroken: $0.newlyBroken) },
            epsilonCurve: report.epsilonCurve.map { AdvProtocol.EpsilonPoint(epsilon: Double($0.epsilon), robustAccuracy: $0.robustAccuracy) },
            warnings: report.warnings.map { "\($0.check): \($0.message)" })
    }

    /// The last `error:` line of a job log.
    static func lastError(in logPath: String) -> String? {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").last { $0.hasPrefix("error: ") }.map { String($0.dropFirst("error: ".count)) }
    }

    static func percent(_ value: Double) -> String { String(format: "%.2f%%", value * 100) }
}
