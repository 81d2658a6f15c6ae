import AdvNN
import AdvProtocol
import AdvRobust
import AdvVersion
import Dispatch
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// What several parts of the daemon read and `SIGHUP` may change: the configuration, the admission
/// rules built from it, and whether new work is accepted.
final class DaemonState: @unchecked Sendable {
    private let lock = NSLock()
    private var current: DaemonConfiguration
    private var accepting = true
    let version = AdvdVersion.current
    let startedAt = Date()
    let logger: Logger
    /// What the jobs compute on (they inherit the daemon's kernel choice with its environment), and a
    /// quick sgemm rate measured at start.
    let machine: ComputeProvenance
    let sgemmGflops: Double

    init(configuration: DaemonConfiguration, logger: Logger) {
        current = configuration
        self.logger = logger
        machine = .current(threads: configuration.resolvedThreadsPerJob)
        sgemmGflops = ComputeProvenance.quickSgemmGflops()
    }

    var configuration: DaemonConfiguration {
        get { lock.withLock { current } }
        set { lock.withLock { current = newValue } }
    }
    var admission: JobAdmission { JobAdmission(configuration: configuration) }
    var isAccepting: Bool {
        get { lock.withLock { accepting } }
        set { lock.withLock { accepting = newValue } }
    }

    /// A job's folder: `<state>/jobs/<id>`.
    var outputFolder: @Sendable (Int64) -> String {
        let jobs = configuration.jobsFolder
        return { id in "\(jobs)/\(id)" }
    }
}

/// `advd serve`: opens the job store, queues again the jobs a previous daemon left running, ingests the
/// spool, serves the control socket, runs jobs, and stops gracefully on SIGTERM.
///
/// Its life cycle is `start()` … `stop(completion:)`, which a test can drive on temporary folders in its
/// own process; only `run()`, what `advd serve` calls, adds the signal handlers, parks the main thread
/// and exits the process after a stop.
public final class Daemon: @unchecked Sendable {
    let state: DaemonState
    /// Reads the configuration again for SIGHUP: the file, then the command line's overrides.
    let reloadConfiguration: (() throws -> DaemonConfiguration)?
    let executable: String
    let notifier = SystemdNotifier()
    private var store: JobStore!
    private var scheduler: Scheduler!
    private var server: ControlServer!
    private var watcher: SpoolWatcher!
    private var ingestor: SpoolIngestor!
    private let ingestQueue = DispatchQueue(label: "advd.spool")
    private let mainQueue = DispatchQueue(label: "advd.main")
    private let notifyQueue = DispatchQueue(label: "advd.notify")
    /// The last STATUS= sent (on `notifyQueue`).
    private var lastPublishedStatus: String?
    private var signalSources: [DispatchSourceSignal] = []
    private var retentionTimer: DispatchSourceTimer?
    private var handler: RequestHandler!
    private var lock: StateFolderLock?

    /// - Parameters:
    ///   - reloadConfiguration: what SIGHUP applies (nil: there is no file to reload).
    ///   - executable: the advd binary jobs run with (`advd run --supervised`).
    public init(configuration: DaemonConfiguration, reloadConfiguration: (() throws -> DaemonConfiguration)?,
                executable: String, logger: Logger) {
        state = DaemonState(configuration: configuration, logger: logger)
        self.reloadConfiguration = reloadConfiguration
        self.executable = executable
    }

    var logger: Logger { state.logger }

    /// Starts everything, stops on SIGTERM or SIGINT and reloads on SIGHUP, and never returns; the
    /// process exits 0 after a graceful stop.
    /// - Throws: `DaemonError` when the state folder, database, spool or socket cannot be set up.
    public func run() throws -> Never {
        try start()
        installSignalHandlers()
        dispatchMain()
    }

    /// Starts everything; `READY=1` is sent once the database is open and the spool scanned. Returns
    /// once the daemon serves; it runs on its own queues and threads until `stop`.
    /// - Throws: `DaemonError` when the state folder, database, spool or socket cannot be set up.
    public func start() throws {
        let configuration = state.configuration
        let problems = configuration.problemsOnThisMachine()
        guard problems.isEmpty else {
            throw DaemonError("the configuration does not work on this machine:\n  " + problems.joined(separator: "\n  "))
        }
        signal(SIGPIPE, SIG_IGN)
        for folder in [configuration.stateFolder, configuration.jobsFolder] {
            // (for Slurm the jobs folder is on the shared folder, readable by the nodes)
            do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                throw DaemonError("\(folder): cannot create the state folder: \(error.localizedDescription)")
            }
        }
        lock = try StateFolderLock(stateFolder: configuration.stateFolder)
        store = try JobStore(path: configuration.databasePath)
        let clusterExecutor = configuration.executor == .slurm ? DaemonConfiguration.ExecutorKind.slurm.rawValue : nil
        if clusterExecutor == nil {
            // the executor was switched back to local while Slurm held jobs: they are queued here, and
            // their Slurm jobs, if they still run, are the administrator's to cancel
            for job in try store.jobsHeldByCluster(DaemonConfiguration.ExecutorKind.slurm.rawValue) {
                logger.warning("job \(job.id) was held by Slurm (\(job.placement?.summary ?? "?")); with executor local it runs here: cancel its Slurm job (scancel \(job.placement?.clusterJobID ?? "?")) if it still runs",
                               metadata: ["job_id": "\(job.id)"])
            }
        }
        let requeued = try store.requeueInterrupted(keepingJobsOf: clusterExecutor)
        if !requeued.isEmpty {
            logger.notice("queued again \(requeued.count) job(s) interrupted by the last stop: \(requeued.map(String.init).joined(separator: ", "))")
        }

        let executable = self.executable, logger = self.logger
        scheduler = Scheduler(store: store, configuration: configuration, logger: logger) { queue -> any JobExecutor in
            if configuration.executor == .slurm, let slurm = configuration.slurm {
                return SlurmExecutor(settings: slurm, advdPath: slurm.advdPath ?? executable, schedulerQueue: queue, logger: logger)
            }
            return LocalExecutor(executable: executable, queue: queue)
        }
        scheduler.onChange = { [weak self] in self?.publishStatus() }
        ingestor = SpoolIngestor(store: store, admission: state.admission, outputFolder: state.outputFolder)
        ingestor.onAccepted = { [weak self] id, name in
            self?.logger.info("job queued from the spool: \(name)", metadata: ["job_id": "\(id)", "job_state": "queued"])
            self?.scheduler.wake()
        }
        ingestor.onRejected = { [weak self] name, reason in
            self?.logger.warning("spool file rejected: \(reason)", metadata: ["file": "\(name)"])
        }
        watcher = SpoolWatcher(folders: configuration.spools, queue: ingestQueue) { [weak self] folder, name in
            guard let self, self.state.isAccepting else { return }
            self.ingestor.ingest(name, in: folder)
        }
        try watcher.start()
        ingestQueue.sync {}   // the start-up scan ran: every file that arrived while we were down is recorded

        let handler = RequestHandler(store: store, scheduler: scheduler, daemon: state)
        self.handler = handler
        server = ControlServer(path: configuration.socketPath, group: configuration.socketGroup, limits: configuration.connectionLimits,
                               logger: logger) { request, peer in
            handler.handle(request, peer: peer)
        }
        try server.start()
        scheduleRetention()
        scheduler.start()
        notifier.startWatchdog(on: mainQueue)
        logger.notice("advd \(state.version) ready: \(Self.executorSummary(configuration)), socket \(configuration.socketPath), spool \(configuration.spools.map(\.path).joined(separator: ", "))")
        logger.notice("machine: \(state.machine.summary) per job; sgemm 512³ \(String(format: "%.1f", state.sgemmGflops)) GFLOP/s on 1 thread")
        notifier.ready(status: statusLine())
    }

    /// `2 workers × 1 thread`, or `Slurm: up to 100 jobs submitted, 2 CPUs each, partition debug`.
    static func executorSummary(_ configuration: DaemonConfiguration) -> String {
        guard configuration.executor == .slurm, let slurm = configuration.slurm else {
            return "\(Wording.counted(configuration.resolvedWorkers, "worker")) × \(Wording.counted(configuration.resolvedThreadsPerJob, "thread"))"
        }
        return "Slurm: up to \(slurm.maxSubmitted) jobs submitted, \(Wording.counted(configuration.resolvedThreadsPerJob, "CPU")) each"
            + (slurm.partition.map { ", partition \($0)" } ?? "") + ", job folders in \(configuration.jobsFolder)"
    }

    private func statusLine() -> String {
        let counts = (try? store.counts()) ?? [:]
        let submitted = counts[.submitted].map { ", \($0) submitted" } ?? ""
        return "\(counts[.running] ?? 0) running\(submitted), \(counts[.queued] ?? 0) queued"
    }

    /// STATUS= when it changed, sent from a queue of its own: a service manager slow to read its
    /// socket (sd_notify blocks on a full one) never holds up the scheduler that reports a change.
    private func publishStatus() {
        let line = statusLine()
        notifyQueue.async {
            guard line != self.lastPublishedStatus else { return }
            self.lastPublishedStatus = line
            self.notifier.status(line)
        }
    }

    private func installSignalHandlers() {
        for number in [SIGTERM, SIGINT, SIGHUP] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: mainQueue)
            source.setEventHandler { [weak self] in
                if number == SIGHUP { self?.reload() } else { self?.stop { exit(0) } }
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// What the control socket answers `request` from `peer` — the same handler, without the socket.
    public func respond(to request: Request, from peer: PeerCredentials) -> Response {
        handler.handle(request, peer: peer)
    }

    /// Stops gracefully (SIGTERM): accepts nothing new, lets running jobs checkpoint and stop, marks them
    /// interrupted (the next start queues them again), closes the socket and calls `completion`. A
    /// second call while stopping does nothing.
    public func stop(completion: @escaping @Sendable () -> Void) {
        guard state.isAccepting else { return }
        state.isAccepting = false
        notifier.stopping()
        logger.notice("stopping: checkpointing running jobs")
        watcher.stop()
        retentionTimer?.cancel()
        notifier.stopWatchdog()
        scheduler.shutdown(timeout: Double(state.configuration.stopTimeoutSeconds)) { [weak self] in
            self?.server.stop()
            self?.lock?.release()
            self?.lock = nil
            self?.logger.notice("stopped")
            completion()
        }
    }

    /// `stop`, waiting for it to finish.
    /// - Returns: false when the daemon had not stopped after `seconds`.
    @discardableResult
    public func stopAndWait(seconds: Double) -> Bool {
        let done = DispatchSemaphore(value: 0)
        stop { done.signal() }
        return done.wait(timeout: .now() + seconds) == .success
    }

    /// SIGHUP: re-read the configuration file. Log level, dataset roots, retention and attempts apply at
    /// once; workers and threads to the jobs started from now on; folders and the socket need a restart.
    func reload() {
        guard let reloadConfiguration else { return logger.notice("SIGHUP: no configuration file to reload") }
        notifier.reloading()
        defer { notifier.ready(status: statusLine()) }
        let fresh: DaemonConfiguration
        do { fresh = try reloadConfiguration() } catch {
            return logger.error("SIGHUP: \(error); keeping the running configuration")
        }
        let old = state.configuration
        var applied = fresh
        if fresh.stateFolder != old.stateFolder || fresh.socketPath != old.socketPath || fresh.spools != old.spools
            || fresh.executor != old.executor || fresh.slurm != old.slurm {
            logger.warning("SIGHUP: state_folder, socket, spools, executor and slurm change only with a restart")
            applied.stateFolder = old.stateFolder
            applied.socketPath = old.socketPath
            applied.spools = old.spools
            applied.executor = old.executor
            applied.slurm = old.slurm
        }
        state.configuration = applied
        let admission = state.admission
        ingestQueue.async { self.ingestor.admission = admission }
        scheduler.update(applied)
        logger.notice("configuration reloaded: \(Wording.counted(applied.resolvedWorkers, "worker")) × \(Wording.counted(applied.resolvedThreadsPerJob, "thread"))")
    }

    /// Hourly: removes the files of jobs finished more than `retention_days` ago (results stay).
    private func scheduleRetention() {
        let timer = DispatchSource.makeTimerSource(queue: mainQueue)
        timer.schedule(deadline: .now() + 60, repeating: 3600)
        timer.setEventHandler { [weak self] in self?.applyRetention() }
        timer.resume()
        retentionTimer = timer
    }

    func applyRetention() {
        guard let days = state.configuration.retentionDays else { return }
        let cutoff = Date().addingTimeInterval(-Double(days) * 86_400)
        for job in (try? store.finishedBefore(cutoff)) ?? [] {
            try? FileManager.default.removeItem(atPath: job.outputFolder)
            try? store.forgetFiles(job.id)
            logger.info("removed the files of job \(job.id), finished over \(days) days ago; its results stay", metadata: ["job_id": "\(job.id)"])
        }
    }
}
