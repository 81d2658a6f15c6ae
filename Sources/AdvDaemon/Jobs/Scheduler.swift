import AdvNN
import AdvProtocol
import AdvRobust
import Dispatch
import Foundation
import GRDB
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
        /// What the job reported at its end: its evaluation, or why it failed.
        var evaluation: EvaluationSummary?
        var failureReason: String?
        /// Whether an unreadable event line was already logged (once per job is enough).
        var loggedUnreadableEvent = false
    }

    let store: JobStore
    private(set) var configuration: DaemonConfiguration
    let executable: String
    let logger: Logger
    let queue = DispatchQueue(label: "advd.scheduler")
    private var running: [Int64: RunningJob] = [:]
    /// Ends that could not be written (a full disk, say), by job: retried every few seconds until they
    /// are, so that no job stays `running` in the store once its process is gone, and nothing it
    /// reported is lost.
    private var unrecorded: [Int64: (event: JobLifecycle.Event, info: JobInfo, evaluation: EvaluationSummary?, error: String)] = [:]
    private var retryScheduled = false
    /// After a start failed for want of space, no job starts before this time.
    private var startsPausedUntil = Date.distantPast
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

    /// Why job `id`'s end is not in the store yet (its process has ended), or nil.
    func unrecordedEnd(of id: Int64) -> String? {
        queue.sync { unrecorded[id].map { "ended (\($0.event.name)) but could not be recorded yet: \($0.error); retried every 5 s" } }
    }

    /// How many ended jobs wait for their end to be recorded.
    var unrecordedCount: Int { queue.sync { unrecorded.count } }

    /// Cancels a queued job at once, or asks a running one to stop after its current step.
    /// - Throws: `ProtocolError` when the job is unknown, `JobLifecycle.IllegalTransition` when it has ended.
    func cancel(_ id: Int64) throws {
        // a job whose process has ended but whose end is not recorded: the cancellation replaces that end
        let pending: Bool = queue.sync {
            guard let end = unrecorded[id] else { return false }
            unrecorded[id] = (.cancel, end.info, nil, end.error)
            return true
        }
        if pending { queue.async { self.retryUnrecorded() }; return }
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
            throw JobLifecycle.IllegalTransition(job: id, state: job.state, event: .cancel)
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
        while accepting && running.count < configuration.resolvedWorkers && Date() >= startsPausedUntil {
            let claimed: JobInfo?
            do { claimed = try store.claimNext() } catch {
                logger.error("cannot read the job queue: \(error)")
                // a full disk passes: look again later rather than wait for the next event
                if Self.isOutOfSpace(error) { pauseStarts() }
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
                            "--jobs-folder", configuration.jobsFolder] + configuration.datasetRoots.flatMap { ["--read-root", $0] },
                logPath: folder + "/job.log", queue: queue,
                onEvent: { [weak self] in self?.handle($0, of: job.id) },
                onExit: { [weak self] in self?.finished(job.id, status: $0) })
            running[job.id] = RunningJob(info: job, process: process)
            logger.info("job started", metadata: ["job_id": "\(job.id)", "job_state": "running", "pid": "\(process.pid)",
                                                  "attempt": "\(job.attempts)"])
        } catch where Self.isOutOfSpace(error) {
            // not the job's fault: it waits in the queue, and starts pause until space may have returned
            record(.requeue(reason: "could not start: the state folder's disk is full (\(error))"), for: job)
            pauseStarts()
        } catch {
            record(.fail(reason: "could not start: \(error)"), for: job)
        }
    }

    /// No job starts for 10 s (a full disk), then the queue is looked at again.
    private func pauseStarts() {
        startsPausedUntil = Date().addingTimeInterval(10)
        queue.asyncAfter(deadline: .now() + 10) { self.fill() }
    }

    /// Whether `error` says the disk is full (a file write, or SQLite's SQLITE_FULL).
    static func isOutOfSpace(_ error: any Error) -> Bool {
        if let database = error as? DatabaseError, database.resultCode == .SQLITE_FULL { return true }
        let nsError = error as NSError
        if nsError.domain == NSCocoaErrorDomain && nsError.code == NSFileWriteOutOfSpaceError { return true }
        if nsError.domain == NSPOSIXErrorDomain && nsError.code == Int(ENOSPC) { return true }
        return "\(error)".contains("No space left on device")
    }

    /// The job folder's manifest name: the job name with anything but letters, digits, `-`, `_` and `.` replaced.
    static func fileName(for name: String) -> String {
        let cleaned = String(name.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
        return cleaned.isEmpty || cleaned.hasPrefix(".") ? "manifest" : cleaned
    }

    /// One typed event from a running job: progress is kept in memory (and written to the database a
    /// few times a second at most, for readers after a restart), epochs are recorded as they finish,
    /// and the job's end (its evaluation or failure reason) waits for its exit.
    private func handle(_ received: Result<JobEvent, JobEventError>, of id: Int64) {
        guard var job = running[id] else { return }
        defer { running[id] = job }
        let event: JobEvent
        switch received {
        case .success(let value): event = value
        case .failure(let error):
            if !job.loggedUnreadableEvent { logger.warning("job \(id): \(error)", metadata: ["job_id": "\(id)"]) }
            job.loggedUnreadableEvent = true
            return
        }
        switch event {
        case let .phase(phase, detail):
            logger.debug("job \(id): \(phase): \(detail)", metadata: ["job_id": "\(id)"])
        case let .progress(progress):
            // a new phase is written at once, so readers after a restart see where the job got to
            record(progress, of: &job, force: progress.phase != job.progress?.phase)
        case let .epoch(epoch):
            do { try store.recordEpoch(id, epoch) } catch { logger.error("job \(id): cannot record epoch \(epoch.epoch): \(error)") }
        case let .checkpoint(path):
            logger.debug("job \(id) wrote \(path)", metadata: ["job_id": "\(id)"])
        case .warning:
            break   // the warnings arrive again, all together, in the finished event's evaluation
        case let .finished(evaluation):
            job.evaluation = evaluation
        case let .failed(reason):
            job.failureReason = reason
        }
    }

    private func record(_ progress: JobProgress, of job: inout RunningJob, force: Bool) {
        job.progress = progress
        guard force || Date().timeIntervalSince(job.lastProgressWrite) >= 2 else { return }
        do { try store.updateProgress(job.info.id, progress) } catch {
            logger.error("job \(job.info.id): cannot record progress: \(error)")
        }
        job.lastProgressWrite = Date()
    }

    /// A job's process exited: the retry policy turns its outcome into a life-cycle event, recorded here.
    private func finished(_ id: Int64, status: Int32) {
        guard let job = running.removeValue(forKey: id) else { return }
        let outcome = JobOutcome(waitStatus: WaitStatus(status), reportedFailure: job.failureReason)
        let event = RetryPolicy(maxAttempts: configuration.maxAttempts)
            .event(after: outcome, attempts: job.info.attempts, cancelRequested: job.cancelRequested, daemonStopping: !accepting)
        record(event, for: job.info, evaluation: job.evaluation)
        fill()
    }

    /// Applies `event` to the job in the store (with its results, for a success) and logs it; an end
    /// that cannot be written is kept in `unrecorded` and retried until it is.
    private func record(_ reported: JobLifecycle.Event, for job: JobInfo, evaluation: EvaluationSummary? = nil) {
        var metadata: Logger.Metadata = ["job_id": "\(job.id)"]
        let event: JobLifecycle.Event = reported == .succeed && evaluation == nil
            ? .fail(reason: "the run exited successfully but reported no results") : reported
        do {
            var summary = ""
            if event == .succeed, let evaluation {
                try store.recordSuccess(job.id, evaluation: evaluation)
                summary = ": clean \(Self.percent(evaluation.cleanAccuracy)), worst case \(Self.percent(evaluation.worstCaseRobustAccuracy))"
            } else {
                if case let .fail(reason) = event {
                    // written before the job reads failed, so whoever sees it failed finds its report
                    do { try FailureReport.write(job: job.id, reason: reason, store: store) } catch {
                        logger.warning("job \(job.id): could not write the failure report: \(error)", metadata: metadata)
                    }
                }
                try store.apply(event, to: job.id)
            }
            let state = try store.job(job.id)?.state.rawValue ?? "?"
            metadata["job_state"] = "\(state)"
            switch event {
            case .fail(let reason): logger.error("job failed: \(reason)", metadata: metadata)
            case .retryAfterCrash(let cause): logger.warning("job \(cause); queued again", metadata: metadata)
            case .requeue(let reason): logger.warning("job \(reason); queued again", metadata: metadata)
            default: logger.info("job \(state)\(summary)", metadata: metadata)
            }
        } catch let error as JobLifecycle.IllegalTransition {
            logger.error("job \(job.id) ended (\(event.name)), which its state does not allow: \(error)", metadata: metadata)
        } catch {
            // kept and retried: the end is written as soon as the store takes it again
            let first = unrecorded[job.id] == nil
            unrecorded[job.id] = (event, job, evaluation, "\(error)")
            if first { logger.error("job \(job.id) ended (\(event.name)) but could not be recorded: \(error); retrying every 5 s", metadata: metadata) }
            scheduleRetry()
        }
    }

    private func scheduleRetry() {
        guard !retryScheduled, !unrecorded.isEmpty else { return }
        retryScheduled = true
        queue.asyncAfter(deadline: .now() + 5) {
            self.retryScheduled = false
            self.retryUnrecorded()
        }
    }

    /// Records every end that could not be written before (each once, in job order).
    private func retryUnrecorded() {
        for id in unrecorded.keys.sorted() {
            guard let end = unrecorded.removeValue(forKey: id) else { continue }
            record(end.event, for: end.info, evaluation: end.evaluation)
            if unrecorded[id] == nil {
                logger.notice("job \(id): its end (\(end.event.name)) is recorded now", metadata: ["job_id": "\(id)"])
            }
        }
        scheduleRetry()
        onChange()
    }

    static func percent(_ value: Double) -> String { String(format: "%.2f%%", value * 100) }
}
