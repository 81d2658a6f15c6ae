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

    func handle(_ request: Request, peer: PeerCredentials) -> Response {
        guard let command = Request.Command(rawValue: request.command) else {
            return .failure(.unknownCommand, "unknown command \"\(request.command)\"; expected one of \(Request.Command.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        do {
            switch command {
            case .status: return try status()
            case .submit: return try submit(request, peer: peer)
            case .list: return try list(request)
            case .show: return show(try job(request, details: true))
            case .logs: return try logs(try job(request), offset: request.offset ?? 0)
            case .results: return try results(try job(request))
            case .cancel: return try modify(try job(request), peer: peer) { try self.scheduler.cancel($0.id) }
            case .retry:
                return try modify(try job(request), peer: peer) {
                    try self.store.retry($0.id)
                    self.scheduler.wake()
                }
            case .artifacts: return artifacts(try job(request))
            }
        } catch let error as ProtocolError {
            return .failure(error.code, error.message)
        } catch {
            return .failure(.internal, "\(error)")
        }
    }

    /// The job a request names; `details` adds its manifest, epochs and events.
    private func job(_ request: Request, details: Bool = false) throws -> JobInfo {
        guard let id = request.job else { throw ProtocolError(code: .badRequest, message: "\(request.command) needs a job id (field \"job\")") }
        guard let job = try store.job(id, details: details) else { throw ProtocolError(code: .notFound, message: "no job \(id)") }
        return job
    }

    private func status() throws -> Response {
        let counts = try store.counts()
        var response = Response()
        let configuration = daemon.configuration
        response.status = DaemonStatus(
            version: daemon.version, protocolVersion: Wire.version, pid: getpid(), startedAt: daemon.startedAt,
            uptimeSeconds: Date().timeIntervalSince(daemon.startedAt), workers: configuration.resolvedWorkers,
            busyWorkers: scheduler.busyWorkers, threadsPerJob: configuration.resolvedThreadsPerJob,
            queued: counts[.queued] ?? 0, running: counts[.running] ?? 0, stateFolder: configuration.stateFolder,
            spools: configuration.spools.map(\.path))
        return response
    }

    private func submit(_ request: Request, peer: PeerCredentials) throws -> Response {
        guard daemon.isAccepting else { throw ProtocolError(code: .unavailable, message: "the daemon is shutting down and accepts no new jobs") }
        guard let text = request.manifest else { throw ProtocolError(code: .badRequest, message: "submit needs the manifest text (field \"manifest\")") }
        let source = request.manifestName ?? "submitted.yaml"
        let manifest: ExperimentManifest
        do { manifest = try daemon.admission.admit(text: text, source: source) } catch {
            throw ProtocolError(code: .invalidManifest, message: "\(error)")
        }
        let submission = JobStore.Submission(name: manifest.name, ownerUID: peer.uid, priority: request.priority ?? 0,
                                             labels: request.labels ?? [], manifest: text,
                                             source: "advctl submit \(source) (uid \(peer.uid))", spoolKey: nil)
        let (id, _) = try store.submit(submission, outputFolder: daemon.outputFolder)
        daemon.logger.info("job queued from advctl", metadata: ["job_id": "\(id)", "job_state": "queued", "uid": "\(peer.uid)"])
        scheduler.wake()
        var response = Response()
        response.submitted = [id]
        return response
    }

    private func list(_ request: Request) throws -> Response {
        var filter = JobStore.Filter()
        filter.states = try (request.states ?? []).map { name in
            guard let state = JobState(rawValue: name) else {
                throw ProtocolError(code: .badRequest, message: "unknown state \"\(name)\"; expected one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return state
        }
        filter.nameContains = request.name
        filter.label = request.label
        filter.limit = min(max(request.limit ?? 10_000, 1), 100_000)
        var response = Response()
        response.jobs = try store.list(filter).map(withLiveProgress)
        return response
    }

    private func show(_ job: JobInfo) -> Response {
        var response = Response()
        response.job = withLiveProgress(job)
        return response
    }

    private func withLiveProgress(_ job: JobInfo) -> JobInfo {
        guard job.state == .running, let live = scheduler.progress(of: job.id) else { return job }
        var copy = job
        copy.progress = live
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
        var response = Response()
        response.logs = LogChunk(text: text, nextOffset: next, finished: job.state.isFinished)
        return response
    }

    private func results(_ job: JobInfo) throws -> Response {
        guard let results = try store.results(job.id) else {
            throw ProtocolError(code: .conflict, message: "job \(job.id) has no results: it is \(job.state.rawValue)\(job.error.map { " (\($0))" } ?? "")")
        }
        var response = Response()
        response.results = results
        return response
    }

    private func modify(_ job: JobInfo, peer: PeerCredentials, _ action: (JobInfo) throws -> Void) throws -> Response {
        guard Authorization.mayModify(job, peer: peer) else {
            throw ProtocolError(code: .permissionDenied, message: "job \(job.id) belongs to uid \(job.ownerUID); only that user or root may change it")
        }
        try action(job)
        return Response()
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
            add("report", folder + "/report.md")
            add("log", folder + "/job.log")
            add("teacher", folder + "/teacher/model.safetensors")
            let checkpoints = ((try? FileManager.default.contentsOfDirectory(atPath: folder + "/checkpoints")) ?? []).sorted()
            for name in checkpoints where name.hasSuffix(".safetensors") { add("checkpoint", folder + "/checkpoints/" + name) }
        }
        var response = Response()
        response.artifacts = found
        return response
    }
}
