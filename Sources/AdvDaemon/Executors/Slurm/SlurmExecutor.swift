import AdvNN
import AdvProtocol
import Dispatch
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Hands jobs to Slurm: one `sbatch` per attempt, tracked with `squeue --json` every `poll_seconds`,
/// events read from the job's `events.jsonl` on the shared folder, `scancel` for a cancellation. Its
/// jobs outlive the daemon: a restarted daemon adopts them from the store (`adopt`) and catches up on
/// their events.
///
/// Slurm commands can hang when the controller is down, so they run on this executor's own queue,
/// never on the scheduler's: the daemon keeps answering while Slurm does not.
final class SlurmExecutor: JobExecutor, @unchecked Sendable {
    let settings: SlurmSettings
    /// The advd binary the batch scripts run.
    let advdPath: String
    private let schedulerQueue: DispatchQueue
    private let queue = DispatchQueue(label: "advd.slurm")
    private let logger: Logger
    private let command: SlurmCommand
    /// Runs with a Slurm job id, by that id (on `queue`).
    private var tracked: [String: SlurmRun] = [:]
    private var timer: DispatchSourceTimer?
    private let lock = NSLock()
    private var currentProblem: (text: String, since: Date)?
    /// The Slurm command running now, and since when: a controller that does not answer shows here
    /// long before the command gives up.
    private var inFlight: (tool: String, since: Date)?

    let name = "slurm"
    let startsJobsAtOnce = false
    let runsOutliveTheDaemon = true

    init(settings: SlurmSettings, advdPath: String, schedulerQueue: DispatchQueue, logger: Logger) {
        self.settings = settings
        self.advdPath = advdPath
        self.schedulerQueue = schedulerQueue
        self.logger = logger
        var command = SlurmCommand()
        if let conf = settings.slurmConf { command.environment["SLURM_CONF"] = conf }
        self.command = command
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + .seconds(settings.pollSeconds), repeating: .seconds(settings.pollSeconds))
        timer.setEventHandler { [weak self] in self?.poll() }
        timer.resume()
        self.timer = timer
    }

    func capacity(under configuration: DaemonConfiguration) -> Int { settings.maxSubmitted }

    var problem: String? {
        lock.withLock {
            if let currentProblem {
                // unreachable, or refusing (a wrong account): either way nothing goes to Slurm until it answers
                return "Slurm does not take advd's jobs (since \(Self.clock.string(from: currentProblem.since))): \(currentProblem.text); jobs wait and go when it does"
            }
            if let inFlight, Date().timeIntervalSince(inFlight.since) >= 5 {
                return "Slurm has not answered \(inFlight.tool) for \(Int(Date().timeIntervalSince(inFlight.since))) s (is slurmctld up?); jobs wait"
            }
            return nil
        }
    }

    /// Runs a Slurm command on this executor's queue, noting it while it runs.
    private func slurm(_ tool: String, _ arguments: [String]) throws -> SlurmCommand.Output {
        lock.withLock { inFlight = (tool, Date()) }
        defer { lock.withLock { inFlight = nil } }
        return try command.run(tool, arguments)
    }

    private static let clock: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        return formatter
    }()

    private func noteProblem(_ text: String?) {
        let (changed, first): (Bool, Bool) = lock.withLock {
            defer { currentProblem = text.map { (text: $0, since: currentProblem?.since ?? Date()) } }
            return (currentProblem?.text != text, currentProblem == nil)
        }
        guard changed else { return }
        if let text { logger.error("Slurm: \(text)\(first ? "" : " (still)")") } else { logger.notice("Slurm answers again") }
    }

    // MARK: Submitting

    func start(_ request: RunRequest, report: @escaping @Sendable (ExecutorReport) -> Void) throws -> any ExecutorRun {
        let run = SlurmRun(job: request.job.id, eventsPath: request.folder + "/events.jsonl", executor: self,
                           report: { [schedulerQueue] item in schedulerQueue.async { report(item) } })
        queue.async { self.submit(run, request) }
        return run
    }

    private func submit(_ run: SlurmRun, _ request: RunRequest) {
        let number = (request.job.placement?.submission ?? 0) + 1
        let unsetKernel = ProcessInfo.processInfo.environment[KernelSelection.fallbackVariable] != nil
        let submission = SlurmSubmission(request: request, submission: number, settings: settings, advdPath: advdPath,
                                         unsetKernelChoice: unsetKernel)
        do {
            // a daemon that stopped between sbatch and recording it left the job in Slurm's queue: take it back
            let queue = try listQueue()
            // (a job's names never repeat, so one that has ended since is this very submission, done)
            if let existing = queue.jobs.first(where: { $0.name == submission.jobName && $0.workingDirectory == request.folder }) {
                logger.notice("job \(request.job.id): found in Slurm's queue as \(existing.jobID) (\(existing.stateText)); adopted, not submitted again",
                              metadata: ["job_id": "\(request.job.id)"])
                run.clusterID = String(existing.jobID)
                tracked[run.clusterID!] = run
                run.report(.submitted(ClusterPlacement(executor: name, clusterJobID: String(existing.jobID), partition: existing.partition,
                                                       node: existing.nodes, clusterState: existing.stateText, submission: number)))
                run.deliverNewEvents()
                update(run, with: existing)
                return
            }
            // each attempt starts a fresh events file: no earlier attempt's end is read as this one's
            try? FileManager.default.removeItem(atPath: run.tail.path)
            try Data(submission.script.utf8).write(to: URL(fileURLWithPath: request.folder + "/slurm-job.sh"), options: .atomic)
            let output = try slurm("sbatch", submission.arguments)
            guard output.succeeded, let id = SlurmSubmission.parseJobID(output.stdout) else {
                throw SlurmCommand.Failure(description: "sbatch refused the job: \(output.problem)")
            }
            noteProblem(nil)
            run.clusterID = id
            // requeued 0 times so far: a first look that finds a restart, however late it comes, knows
            // the job ran and went back (an adopted job's count is unknown until its first look)
            run.tracking.lastRestarts = 0
            tracked[id] = run
            run.report(.submitted(ClusterPlacement(executor: name, clusterJobID: id, partition: settings.partition, clusterState: "PENDING",
                                                   submission: number)))
            if run.cancelRequested { scancel(run) }
        } catch {
            noteProblem("\(error)")
            run.report(.notSubmitted(reason: "\(error)"))
        }
    }

    private func listQueue() throws -> SlurmQueue {
        let output = try slurm("squeue", ["--json", "--states=all", "--user=\(getuid())"])
        guard output.succeeded else { throw SlurmCommand.Failure(description: "squeue failed: \(output.problem)") }
        return try SlurmQueue.parse(output.stdout)
    }

    // MARK: Tracking

    func adopt(_ job: JobInfo, report: @escaping @Sendable (ExecutorReport) -> Void) -> (any ExecutorRun)? {
        guard let placement = job.placement, placement.executor == name else { return nil }
        let run = SlurmRun(job: job.id, eventsPath: job.outputFolder + "/events.jsonl", executor: self,
                           report: { [schedulerQueue] item in schedulerQueue.async { report(item) } })
        run.clusterID = placement.clusterJobID
        run.tracking = SlurmJobTracking(isRunning: job.state == .running, lastRestarts: nil, lastState: placement.clusterState)
        queue.async {
            self.tracked[placement.clusterJobID] = run
            self.poll()
        }
        return run
    }

    /// One look at Slurm's queue: new events, state changes and ends of every tracked job. With no job
    /// tracked it still looks while Slurm is said to be unreachable, so that the warning clears when it answers.
    private func poll() {
        guard !tracked.isEmpty || lock.withLock({ currentProblem != nil }) else { return }
        let listed: SlurmQueue
        do { listed = try listQueue() } catch {
            noteProblem("\(error)")
            // the events still come in: a job that runs keeps writing its folder
            for run in tracked.values { run.deliverNewEvents() }
            return
        }
        noteProblem(nil)
        let byID = Dictionary(listed.jobs.map { (String($0.jobID), $0) }, uniquingKeysWith: { first, _ in first })
        for (id, run) in tracked.sorted(by: { $0.value.job < $1.value.job }) {
            run.deliverNewEvents()
            if let job = byID[id] { update(run, with: job) } else { vanished(run, id: id) }
        }
    }

    /// What Slurm says of `run`'s job now; the job's events up to this look are delivered already.
    private func update(_ run: SlurmRun, with job: SlurmJob) {
        for report in run.tracking.observe(job, cancelRequested: run.cancelRequested) { run.report(report) }
        if case .ended = job.phase { tracked[String(job.jobID)] = nil }
    }

    /// A tracked job Slurm no longer lists (it forgot it after MinJobAge, while the daemon was down):
    /// its events file says how it ended, if it did.
    private func vanished(_ run: SlurmRun, id: String) {
        let end: RunEnd
        if run.tail.sawFinished {
            end = .exited(.exited(SupervisedRun.ExitStatus.succeeded.rawValue))
        } else if run.tail.sawFailure != nil {
            end = .exited(.exited(SupervisedRun.ExitStatus.failed.rawValue))
        } else {
            end = .decided(.stoppedByCluster(cause: "left Slurm's queue (job \(id)) without reporting an end"))
        }
        for report in run.tracking.vanished(ending: end) { run.report(report) }
        tracked[id] = nil
    }

    // MARK: Cancelling

    fileprivate func cancel(_ run: SlurmRun) {
        queue.async {
            run.cancelRequested = true
            if run.clusterID != nil { self.scancel(run) }   // else: cancelled right after its sbatch returns
        }
    }

    private func scancel(_ run: SlurmRun) {
        guard let id = run.clusterID else { return }
        do {
            let output = try slurm("scancel", [id])
            if !output.succeeded { logger.error("job \(run.job): scancel \(id) failed: \(output.problem)", metadata: ["job_id": "\(run.job)"]) }
        } catch {
            logger.error("job \(run.job): scancel \(id): \(error); tried again at the next poll", metadata: ["job_id": "\(run.job)"])
            queue.asyncAfter(deadline: .now() + .seconds(settings.pollSeconds)) { [weak self] in
                if self?.tracked[id] != nil { self?.scancel(run) }
            }
        }
    }

    func shutdown() {
        timer?.cancel()
        queue.sync { tracked.removeAll() }
    }
}

/// One Slurm job of advd's. Its fields are read and written on the executor's queue only.
final class SlurmRun: ExecutorRun, @unchecked Sendable {
    let job: Int64
    var clusterID: String?
    var cancelRequested = false
    /// What the daemon knows of the job since its last look at Slurm's queue.
    var tracking = SlurmJobTracking()
    var tail: EventsFileTail
    let report: @Sendable (ExecutorReport) -> Void
    private weak var executor: SlurmExecutor?

    init(job: Int64, eventsPath: String, executor: SlurmExecutor, report: @escaping @Sendable (ExecutorReport) -> Void) {
        self.job = job
        tail = EventsFileTail(path: eventsPath)
        self.executor = executor
        self.report = report
    }

    func deliverNewEvents() {
        for event in tail.readNew() { report(.event(event)) }
    }

    func cancel() { executor?.cancel(self) }
    /// Slurm's jobs go on without the daemon.
    func stop() {}
    func kill() {}
}
