import AdvProtocol
import AdvRobust
import Foundation

/// Who may change a job: its submitter or root. Reading is open to everyone who can reach the socket
/// (the socket's group already limits that).
public enum Authorization {
    public static func mayModify(_ job: JobInfo, peer: PeerCredentials) -> Bool {
        peer.uid == 0 || peer.uid == job.ownerUID
    }
}

/// Answers control requests from the job store and the scheduler.
final class RequestHandler: @unchecked Sendable {
    let store: JobStore
    let scheduler: Scheduler
    let daemon: DaemonState

    init(store: JobStore, scheduler: Scheduler, daemon: DaemonState) {
        self.store = store
        self.scheduler = scheduler
        self.daemon = daemon
    }

    /// Answers one request. Refusals the user can act on (no such job, not yours, wrong state, bad
    /// manifest) say so; anything else is logged in full with the request and reaches the client as a
    /// short message pointing at the log.
    func handle(_ request: Request, peer: PeerCredentials) -> Response {
        do {
            switch request {
            case .status: return try status()
            case let .submit(submissions): return try submit(submissions, peer: peer)
            case let .list(query): return try list(query)
            case let .show(reference): return .job(withLiveProgress(try job(reference.job, details: true)))
            case let .logs(query): return try logs(try job(query.job), offset: query.offset)
            case let .results(reference): return try results(try job(reference.job))
            case let .cancel(reference):
                return try modify(try job(reference.job), peer: peer) { try self.scheduler.cancel($0.id) }
            case let .retry(reference):
                return try modify(try job(reference.job), peer: peer) {
                    try self.store.apply(.retry, to: $0.id)
                    self.scheduler.wake()
                }
            case let .artifacts(reference): return artifacts(try job(reference.job))
            case let .report(query): return try report(try job(query.job), inlineImages: query.inlineImages)
            case let .compare(query): return try compare(query.jobs)
            }
        } catch let error as ProtocolError {
            return .failure(error)
        } catch let error as JobLifecycle.IllegalTransition {
            return .failure(.conflict, error.description)
        } catch {
            daemon.logger.error("request \(request.command.rawValue) from uid \(peer.uid) failed: \(error)",
                                metadata: ["request": "\(request)", "uid": "\(peer.uid)"])
            return .failure(.internal, "internal error in advd while answering \(request.command.rawValue); see the daemon's log (journalctl -u advd)")
        }
    }

    /// The job `id`; `details` adds its manifest, epochs and events.
    func job(_ id: Int64, details: Bool = false) throws -> JobInfo {
        guard let job = try store.job(id, details: details) else { throw ProtocolError(code: .notFound, message: "no job \(id)") }
        return job
    }

    private func status() throws -> Response {
        let counts = try store.counts()
        let configuration = daemon.configuration
        var machine = daemon.machine
        machine.threads = configuration.resolvedThreadsPerJob   // SIGHUP may have changed it
        return .status(DaemonStatus(
            version: daemon.version, protocolVersion: Wire.version, pid: getpid(), startedAt: daemon.startedAt,
            uptimeSeconds: Date().timeIntervalSince(daemon.startedAt), workers: configuration.resolvedWorkers,
            busyWorkers: scheduler.busyWorkers, threadsPerJob: configuration.resolvedThreadsPerJob,
            queued: counts[.queued] ?? 0, running: counts[.running] ?? 0, stateFolder: configuration.stateFolder,
            spools: configuration.spools.map(\.path), machine: machine.summary, sgemmGflops: daemon.sgemmGflops,
            warnings: warnings(configuration), executor: Daemon.executorSummary(configuration), submitted: counts[.submitted] ?? 0))
    }

    /// What `advctl status` should say needs attention.
    private func warnings(_ configuration: DaemonConfiguration) -> [String]? {
        var warnings: [String] = []
        var space = statvfs()
        if statvfs(configuration.stateFolder, &space) == 0, space.f_blocks > 0 {
            let free = Double(space.f_bavail) * Double(space.f_frsize), total = Double(space.f_blocks) * Double(space.f_frsize)
            // under 5% free, or under 512 MiB and a quarter of a small file system
            if free < 0.05 * total || (free < 512 * 1_048_576 && free < 0.25 * total) {
                warnings.append(String(format: "the state folder's file system is nearly full: %.0f MiB free of %.0f MiB (%@); jobs cannot checkpoint and their ends may wait to be recorded",
                                       free / 1_048_576, total / 1_048_576, configuration.stateFolder))
            }
        }
        if let problem = scheduler.executor.problem { warnings.append(problem) }
        let waiting = scheduler.unrecordedCount
        if waiting > 0 { warnings.append("\(waiting) ended job(s) wait for their end to be recorded (see the daemon's log)") }
        return warnings.isEmpty ? nil : warnings
    }

    /// Every manifest is checked before any is queued, and all are recorded in one transaction: a
    /// batch with one bad file queues nothing, and the error names that file.
    private func submit(_ submissions: [Submission], peer: PeerCredentials) throws -> Response {
        guard daemon.isAccepting else { throw ProtocolError(code: .unavailable, message: "the daemon is shutting down and accepts no new jobs") }
        guard (1...JobLimits.maximumManifestsPerSubmission).contains(submissions.count) else {
            throw ProtocolError(code: .badRequest, message: "submit \(submissions.count) manifests at once; 1 to \(JobLimits.maximumManifestsPerSubmission) are accepted")
        }
        let records = try submissions.map { submission in
            if let problem = JobLimits.problem(priority: submission.priority) ?? JobLimits.problem(labels: submission.labels)
                ?? JobLimits.problem(manifestBytes: submission.manifest.utf8.count) {
                throw ProtocolError(code: .badRequest, message: "\(submission.manifestName): \(problem)")
            }
            let admitted: JobAdmission.Admitted
            do { admitted = try daemon.admission.admitAll(text: submission.manifest, source: submission.manifestName) } catch {
                throw ProtocolError(code: .invalidManifest, message: "\(error)")
            }
            return admitted.recorded(ownerUID: peer.uid, priority: submission.priority, labels: submission.labels,
                                     source: "advctl submit \(submission.manifestName) (uid \(peer.uid))", spoolKey: nil)
        }
        let total = records.reduce(0) { $0 + $1.jobs.count }
        guard total <= JobLimits.maximumJobsPerSubmission else {
            throw ProtocolError(code: .badRequest, message: "these manifests make \(total) jobs; at most \(JobLimits.maximumJobsPerSubmission) are queued at once")
        }
        let recorded: [(ids: [Int64], group: String?)]
        do { recorded = try store.submitAll(records, outputFolder: daemon.outputFolder) } catch where Scheduler.isOutOfSpace(error) {
            throw ProtocolError(code: .unavailable, message: "the daemon's disk is full (state folder \(daemon.configuration.stateFolder)): nothing was queued; submit again when space is freed")
        }
        for jobs in recorded {
            for id in jobs.ids {
                daemon.logger.info("job queued from advctl", metadata: ["job_id": "\(id)", "job_state": "queued", "uid": "\(peer.uid)"]
                                   .merging(jobs.group.map { ["group": "\($0)"] } ?? [:]) { $1 })
            }
        }
        scheduler.wake()
        return .submitted(zip(submissions, recorded).map { SubmittedManifest(manifestName: $0.manifestName, ids: $1.ids, group: $1.group) })
    }

    private func list(_ query: ListQuery) throws -> Response {
        var filter = JobStore.Filter()
        filter.states = query.states
        filter.nameContains = query.nameContains
        filter.label = query.label
        filter.since = query.since
        filter.group = query.group
        filter.limit = min(max(query.limit ?? 10_000, 1), 100_000)
        return .jobs(try store.list(filter).map(withLiveProgress))
    }

    /// The job as it is now: a running job's latest progress, and a job whose process has ended but whose
    /// end the store could not take yet (a full disk) shown as recording-failed with the reason, never
    /// as running.
    private func withLiveProgress(_ job: JobInfo) -> JobInfo {
        guard job.state == .running else { return job }
        var copy = job
        if let why = scheduler.unrecordedEnd(of: job.id) {
            copy.state = .recordingFailed
            copy.error = why
            copy.progress = nil
        } else if let live = scheduler.progress(of: job.id) {
            copy.progress = live
        }
        return copy
    }

    private func logs(_ job: JobInfo, offset: Int64) throws -> Response {
        let path = job.outputFolder + "/job.log"
        var text = "", next = offset
        if let handle = FileHandle(forReadingAtPath: path) {
            defer { try? handle.close() }
            try handle.seek(toOffset: UInt64(max(offset, 0)))
            let data = try handle.read(upToCount: 256 * 1024) ?? Data()
            text = String(decoding: data, as: UTF8.self)
            next = max(offset, 0) + Int64(data.count)
        }
        return .logs(LogChunk(text: text, nextOffset: next, finished: job.state.isFinished))
    }

    private func results(_ job: JobInfo) throws -> Response {
        guard let results = try store.results(job.id) else {
            throw ProtocolError(code: .conflict, message: "job \(job.id) has no results: it is \(job.state.rawValue)\(job.error.map { " (\($0))" } ?? "")")
        }
        return .results(results)
    }

    private func modify(_ job: JobInfo, peer: PeerCredentials, _ action: (JobInfo) throws -> Void) throws -> Response {
        guard Authorization.mayModify(job, peer: peer) else {
            throw ProtocolError(code: .permissionDenied, message: "job \(job.id) belongs to uid \(job.ownerUID); only that user or root may change it")
        }
        try action(job)
        return .done
    }

    private func artifacts(_ job: JobInfo) -> Response {
        let folder = job.outputFolder
        var found: [Artifact] = []
        func add(_ kind: String, _ path: String) {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return }
            found.append(Artifact(kind: kind, path: path, bytes: (attributes[.size] as? NSNumber)?.int64Value))
        }
        if !folder.isEmpty {
            add("model", folder + "/model.safetensors")
            add("metrics", folder + "/metrics.json")
            add("report", folder + "/report.html")
            add("report", folder + "/report.md")
            add("manifest", folder + "/manifest.yaml")
            add("adversarial", folder + "/adversarial.safetensors")
            add("log", folder + "/job.log")
            add("teacher", folder + "/teacher/model.safetensors")
            let checkpoints = ((try? FileManager.default.contentsOfDirectory(atPath: folder + "/checkpoints")) ?? []).sorted()
            for name in checkpoints where name.hasSuffix(".safetensors") { add("checkpoint", folder + "/checkpoints/" + name) }
        }
        return .artifacts(found)
    }
}
