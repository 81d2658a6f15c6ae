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

/// The scheduler decides what runs next — the most urgent first (priority, then age), up to what its
/// executor may hold at once — and records every life-cycle transition; the executor runs the jobs
/// (`LocalExecutor`: child processes here; `SlurmExecutor`: batch jobs on a cluster) and reports back.
/// Everything here runs on one serial Dispatch queue and only reacts — to a new job, an executor's
/// report, a cancel — so nothing waits busily.
public final class Scheduler: @unchecked Sendable {
    struct RunningJob {
        /// The job as the store last returned it (its attempts count included).
        var info: JobInfo
        let run: any ExecutorRun
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
    let executor: any JobExecutor
    let logger: Logger
    let queue: DispatchQueue
    /// Jobs the executor holds (for a cluster, also those whose submission is under way).
    private var running: [Int64: RunningJob] = [:]
    /// Ends that could not be written (a full disk, say), by job: retried every few seconds until they
    /// are, so that no job stays `running` in the store once its process is gone, and nothing it
    /// reported is lost.
    private var unrecorded: [Int64: (event: JobLifecycle.Event, info: JobInfo, evaluation: EvaluationSummary?, error: String)] = [:]
    private var retryScheduled = false
    /// After a start failed for want of space, or the cluster refused a job, no job starts before this time.
    private var startsPausedUntil = Date.distantPast
    private var accepting = true
    /// Why the executor last refused a job, so that a cluster that stays down is logged once, not at every try.
    private var lastRefusal: String?
    /// Called on the scheduler's queue whenever the number of running or queued jobs may have changed.
    var onChange: () -> Void = {}

    /// - Parameter makeExecutor: the executor, given the queue its reports must arrive on.
    init(store: JobStore, configuration: DaemonConfiguration, logger: Logger,
         makeExecutor: (DispatchQueue) -> any JobExecutor) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        let queue = DispatchQueue(label: "advd.scheduler")
        self.queue = queue
        executor = makeExecutor(queue)
    }

    /// Tracks again the jobs the executor held when the daemon last stopped (a cluster's), then starts
    /// queued jobs.
    func start() {
        queue.async {
            do {
                for job in try self.store.jobsHeldByCluster(self.executor.name) {
                    guard let run = self.executor.adopt(job, report: { [weak self] in self?.handle($0, of: job.id) }) else { continue }
                    self.running[job.id] = RunningJob(info: job, run: run)
                    self.logger.notice("job adopted from \(self.executor.name): \(job.placement?.summary ?? "")",
                                       metadata: ["job_id": "\(job.id)", "job_state": "\(job.state.rawValue)"])
                }
            } catch {
                self.logger.error("cannot read the jobs \(self.executor.name) holds: \(error)")
            }
            self.fill()
        }
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

    /// Jobs the executor holds now (read from any thread: a snapshot from the queue).
    var busyWorkers: Int { queue.sync { running.count } }

    /// The latest progress of a running job, fresher than the database's copy.
    func progress(of id: Int64) -> JobProgress? { queue.sync { running[id]?.progress } }

    /// Why job `id`'s end is not in the store yet (its process has ended), or nil.
    func unrecordedEnd(of id: Int64) -> String? {
        queue.sync { unrecorded[id].map { "ended (\($0.event.name)) but could not be recorded yet: \($0.error); retried every 5 s" } }
    }

    /// How many ended jobs wait for their end to be recorded.
    var unrecordedCount: Int { queue.sync { unrecorded.count } }

    /// Cancels a queued job at once, or asks the executor to stop a job it holds (a running job stops
    /// after its current step; a cluster's is cancelled there).
    /// - Throws: `ProtocolError` when the job is unknown, `JobLifecycle.IllegalTransition` when it has ended.
    func cancel(_ id: Int64) throws {
        // a job whose process has ended but whose end is not recorded: the cancellation replaces that end
        let pending: Bool = queue.sync {
            guard let end = unrecorded[id] else { return false }
            unrecorded[id] = (.cancel, end.info, nil, end.error)
            return true
        }
        if pending { queue.async { self.retryUnrecorded() }; return }
        // the executor's jobs first: a cluster's job whose submission is under way is still queued in the store
        let found: Bool = queue.sync {
            guard var job = running[id] else { return false }
            job.cancelRequested = true
            running[id] = job
            job.run.cancel()
            return true
        }
        if found {
            try? store.addEvent(id, kind: "info", message: "cancellation requested")
            return
        }
        if try store.cancelIfQueued(id) { queue.async { self.onChange() }; return }
        guard let job = try store.job(id) else { throw ProtocolError(code: .notFound, message: "no job \(id)") }
        throw JobLifecycle.IllegalTransition(job: id, state: job.state, event: .cancel)
    }

    /// Stops taking jobs, asks every running job to checkpoint and stop, and calls `completion` when
    /// all have exited (those still running after `timeout` seconds are killed: they resume from their
    /// last checkpoint). Their jobs are left interrupted, to be queued again at the next start.
    /// A cluster's jobs are left running: the next start adopts them.
    func shutdown(timeout: Double, completion: @escaping @Sendable () -> Void) {
        queue.async {
            self.accepting = false
            if self.executor.runsOutliveTheDaemon {
                self.executor.shutdown()
                self.running.removeAll()
            }
            if self.running.isEmpty { return completion() }
            for job in self.running.values { job.run.stop() }
            self.awaitExits(deadline: DispatchTime.now() + timeout, timeout: timeout, completion: completion)
        }
    }

    private func awaitExits(deadline: DispatchTime, timeout: Double, completion: @escaping @Sendable () -> Void) {
        if running.isEmpty { return completion() }
        if DispatchTime.now() >= deadline {
            logger.warning("jobs still running after \(timeout) s: killing them; they resume from their last checkpoint")
            for job in running.values { job.run.kill() }
        }
        queue.asyncAfter(deadline: .now() + 0.1) { self.awaitExits(deadline: deadline, timeout: timeout, completion: completion) }
    }

    // MARK: On the queue

    private func fill() {
        while accepting && running.count < executor.capacity(under: configuration) && Date() >= startsPausedUntil {
            let next: JobInfo?
            do {
                // a local worker claims the job (running); a cluster is handed it (queued until it takes it)
                next = executor.startsJobsAtOnce ? try store.claimNext() : try store.nextQueued(excluding: Array(running.keys))
            } catch {
                logger.error("cannot read the job queue: \(error)")
                // a full disk passes: look again later rather than wait for the next event
                if Self.isOutOfSpace(error) { pauseStarts() }
                return
            }
            guard let job = next else { break }
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
            let request = RunRequest(job: job, manifestPath: manifestPath, folder: folder, threads: configuration.resolvedThreadsPerJob,
                                     jobsFolder: configuration.jobsFolder, readRoots: configuration.datasetRoots)
            let run = try executor.start(request) { [weak self] in self?.handle($0, of: job.id) }
            running[job.id] = RunningJob(info: job, run: run)
            let metadata: Logger.Metadata = ["job_id": "\(job.id)", "job_state": "\(job.state.rawValue)", "attempt": "\(job.attempts)"]
            if executor.startsJobsAtOnce { logger.info("job started", metadata: metadata) } else {
                logger.debug("job being submitted to \(executor.name)", metadata: metadata)
            }
        } catch where Self.isOutOfSpace(error) {
            // not the job's fault: it waits in the queue, and starts pause until space may have returned
            if executor.startsJobsAtOnce { record(.requeue(reason: "could not start: the state folder's disk is full (\(error))"), for: job) }
            pauseStarts()
        } catch {
            record(.fail(reason: "could not start: \(error)"), for: job)
        }
    }

    /// No job starts for `seconds` (a full disk, a cluster that refuses jobs), then the queue is looked at again.
    private func pauseStarts(seconds: Double = 10) {
        startsPausedUntil = Date().addingTimeInterval(seconds)
        queue.asyncAfter(deadline: .now() + seconds) { self.fill() }
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

    /// One report from the executor about job `id`.
    private func handle(_ report: ExecutorReport, of id: Int64) {
        guard var job = running[id] else { return }
        let metadata: Logger.Metadata = ["job_id": "\(id)"]
        switch report {
        case .event(let event):
            handle(event, of: id)
        case .submitted(let placement):
            do {
                job.info = try store.handOver(id, to: placement)
                running[id] = job
                lastRefusal = nil
                logger.info("job submitted: \(placement.summary)", metadata: metadata.merging(["job_state": "submitted"]) { $1 })
            } catch {
                // the cluster holds it but the store could not say so: the next start finds it by its name
                logger.error("job \(id) was submitted as \(placement.summary) but that could not be recorded: \(error)", metadata: metadata)
            }
        case .notSubmitted(let reason):
            running[id] = nil
            if job.cancelRequested { _ = try? store.cancelIfQueued(id) }
            if reason != lastRefusal { logger.warning("job \(id) stays queued: \(reason)", metadata: metadata) }
            lastRefusal = reason
            // the cluster is likely down: try again a while later, not at once
            pauseStarts(seconds: Double(max(configuration.slurm?.pollSeconds ?? 10, 10)))
            onChange()
        case .started(let node):
            apply(.start, to: id, metadata: metadata)
            try? store.updatePlacement(id, node: node, partition: nil, clusterState: "RUNNING")
            logger.info("job running\(node.map { " on \($0)" } ?? "")", metadata: metadata.merging(["job_state": "running"]) { $1 })
            onChange()
        case let .waiting(reason, state):
            apply(.waitAgain(reason: reason), to: id, metadata: metadata)
            try? store.updatePlacement(id, node: nil, partition: nil, clusterState: state)
            logger.warning("job \(reason); it resumes from its last checkpoint", metadata: metadata.merging(["job_state": "submitted"]) { $1 })
            onChange()
        case let .clusterState(node, partition, state):
            do { try store.updatePlacement(id, node: node, partition: partition, clusterState: state) } catch {
                logger.error("job \(id): cannot record its cluster state: \(error)", metadata: metadata)
            }
        case .ended(let end):
            finished(id, end: end)
        }
    }

    /// Applies a transition the executor reported, keeping the job's copy in step.
    private func apply(_ event: JobLifecycle.Event, to id: Int64, metadata: Logger.Metadata) {
        do {
            try store.apply(event, to: id)
            if let info = try store.job(id) { running[id]?.info = info }
        } catch {
            logger.error("job \(id): cannot \(event.name) it: \(error)", metadata: metadata)
        }
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

    /// A job's run ended: the retry policy turns its outcome into a life-cycle event, recorded here.
    private func finished(_ id: Int64, end: RunEnd) {
        guard let job = running.removeValue(forKey: id) else { return }
        let outcome: JobOutcome
        switch end {
        case .exited(let status): outcome = JobOutcome(waitStatus: status, reportedFailure: job.failureReason)
        case .decided(let decided): outcome = decided
        }
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
