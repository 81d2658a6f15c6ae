import Foundation

/// The daemon's answer: one case per kind of payload, or a failure. Each request has one kind of
/// answer (`Request.Command.reply`), so a client knows what to expect.
///
/// On the wire: `{"version": 2, "ok": true, "reply": "job", "payload": {…}}`, or
/// `{"version": 2, "ok": false, "error": {"code": "not-found", "message": "no job 9"}}` — a failure
/// keeps the shape of version 1, so an older client still shows why it was refused.
public enum Response: Sendable {
    case status(DaemonStatus)
    /// `submit`: each manifest's new jobs (one, or a sweep's points and their group).
    case submitted([SubmittedManifest])
    case jobs([JobInfo])
    case job(JobInfo)
    case logs(LogChunk)
    case results(JobResults)
    case artifacts([Artifact])
    case report(JobReport)
    case comparison(Comparison)
    /// `cancel` and `retry`: the request was carried out.
    case done
    case failure(ProtocolError)

    public static func failure(_ code: ProtocolError.Code, _ message: String) -> Response {
        .failure(ProtocolError(code: code, message: message))
    }

    /// The kinds of answer on the wire.
    public enum Reply: String, Codable, Sendable, CaseIterable {
        case status, submitted, jobs, job, logs, results, artifacts, report, comparison, done
    }

    /// The answer's kind; nil for a failure.
    public var reply: Reply? {
        switch self {
        case .status: return .status
        case .submitted: return .submitted
        case .jobs: return .jobs
        case .job: return .job
        case .logs: return .logs
        case .results: return .results
        case .artifacts: return .artifacts
        case .report: return .report
        case .comparison: return .comparison
        case .done: return .done
        case .failure: return nil
        }
    }

    /// The response as one line of JSON, newline included.
    /// - Throws: `EncodingError`.
    public func encodedLine() throws -> Data {
        switch self {
        case let .status(status): return try Wire.encodeLine(Envelope(reply: .status, payload: status))
        case let .submitted(manifests): return try Wire.encodeLine(Envelope(reply: .submitted, payload: manifests))
        case let .jobs(jobs): return try Wire.encodeLine(Envelope(reply: .jobs, payload: jobs))
        case let .job(job): return try Wire.encodeLine(Envelope(reply: .job, payload: job))
        case let .logs(chunk): return try Wire.encodeLine(Envelope(reply: .logs, payload: chunk))
        case let .results(results): return try Wire.encodeLine(Envelope(reply: .results, payload: results))
        case let .artifacts(artifacts): return try Wire.encodeLine(Envelope(reply: .artifacts, payload: artifacts))
        case let .report(report): return try Wire.encodeLine(Envelope(reply: .report, payload: report))
        case let .comparison(comparison): return try Wire.encodeLine(Envelope(reply: .comparison, payload: comparison))
        case .done: return try Wire.encodeLine(Envelope<Bool>(reply: .done, payload: nil))
        case let .failure(error): return try Wire.encodeLine(Envelope<Bool>(error: error))
        }
    }

    /// Reads one response line (without its newline).
    /// - Throws: `ProtocolError` (`badResponse`) for a line that is not a response this build can read.
    public static func decode(_ line: Data) throws -> Response {
        struct Header: Decodable {
            var version: Int
            var ok: Bool
            var reply: String?
            var error: ProtocolError?
        }
        func unreadable(_ why: String) -> ProtocolError {
            ProtocolError(code: .badResponse, message: "unreadable answer from the daemon: \(why)")
        }
        let header: Header
        do { header = try Wire.decode(Header.self, from: line) } catch { throw unreadable(Wire.describe(error)) }
        if !header.ok {
            return .failure(header.error ?? ProtocolError(code: .internal, message: "the daemon refused the request without saying why"))
        }
        guard header.version == Wire.version else {
            throw unreadable("it speaks protocol version \(header.version), this client \(Wire.version) (use the advctl of the same release)")
        }
        guard let name = header.reply, let reply = Reply(rawValue: name) else {
            throw unreadable("unknown reply \(header.reply.map { "\"\($0)\"" } ?? "(none)")")
        }
        func payload<Payload: Codable>(_ type: Payload.Type) throws -> Payload {
            do {
                guard let payload = try Wire.decode(Envelope<Payload>.self, from: line).payload else { throw unreadable("\(name) without a payload") }
                return payload
            } catch let error as ProtocolError { throw error } catch { throw unreadable("\(name): \(Wire.describe(error))") }
        }
        switch reply {
        case .status: return .status(try payload(DaemonStatus.self))
        case .submitted: return .submitted(try payload([SubmittedManifest].self))
        case .jobs: return .jobs(try payload([JobInfo].self))
        case .job: return .job(try payload(JobInfo.self))
        case .logs: return .logs(try payload(LogChunk.self))
        case .results: return .results(try payload(JobResults.self))
        case .artifacts: return .artifacts(try payload([Artifact].self))
        case .report: return .report(try payload(JobReport.self))
        case .comparison: return .comparison(try payload(Comparison.self))
        case .done: return .done
        }
    }

    private struct Envelope<Payload: Codable>: Codable {
        var version = Wire.version
        var ok: Bool
        var reply: Reply?
        var payload: Payload?
        var error: ProtocolError?

        init(reply: Reply, payload: Payload?) {
            ok = true
            self.reply = reply
            self.payload = payload
        }

        init(error: ProtocolError) {
            ok = false
            self.error = error
        }
    }
}

extension Request.Command {
    /// The kind of answer a successful request of this command gets.
    public var reply: Response.Reply {
        switch self {
        case .status: return .status
        case .submit: return .submitted
        case .list: return .jobs
        case .show: return .job
        case .logs: return .logs
        case .results: return .results
        case .cancel, .retry: return .done
        case .artifacts: return .artifacts
        case .report: return .report
        case .compare: return .comparison
        }
    }
}

/// Why a request failed. `code` lets scripts (and advctl's exit status) tell the cases apart.
public struct ProtocolError: Codable, Sendable, Error, CustomStringConvertible {
    public enum Code: String, Codable, Sendable {
        /// The request is not valid JSON, too long, of another version, or misses a field.
        case badRequest = "bad-request"
        case unknownCommand = "unknown-command"
        case notFound = "not-found"
        /// The caller is neither the job's submitter nor root.
        case permissionDenied = "permission-denied"
        /// The manifest is invalid; the message names the key path and line.
        case invalidManifest = "invalid-manifest"
        /// The job is not in a state that allows the request (cancel a finished job, retry a running one).
        case conflict
        /// The daemon is shutting down and accepts no new work.
        case unavailable
        /// The daemon refused the connection: too many are open (from this user, or overall).
        case tooManyConnections = "too-many-connections"
        /// Something went wrong inside the daemon; its log has the details.
        case `internal`
        /// (Client side) the daemon's answer could not be read.
        case badResponse = "bad-response"
    }

    public var code: Code
    public var message: String
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

public struct DaemonStatus: Codable, Sendable {
    public var version: String
    public var protocolVersion: Int
    public var pid: Int32
    public var startedAt: Date
    public var uptimeSeconds: Double
    public var workers: Int
    public var busyWorkers: Int
    public var threadsPerJob: Int
    public var queued: Int
    public var running: Int
    public var stateFolder: String
    public var spools: [String]
    /// What the jobs compute on: processor, BLAS library, kernel and why (see `ComputeProvenance`).
    public var machine: String?
    /// A quick single-threaded sgemm 512³ at start, in GFLOP/s: a gauge of the kernel.
    public var sgemmGflops: Double?
    /// What needs an administrator's attention: a nearly full state file system, job ends waiting to
    /// be recorded.
    public var warnings: [String]?
    /// Where jobs run: `local`, or `slurm` with what the daemon last heard from the cluster.
    public var executor: String?
    /// Jobs a cluster holds before they start (Slurm's PENDING).
    public var submitted: Int?
    public init(version: String, protocolVersion: Int, pid: Int32, startedAt: Date, uptimeSeconds: Double, workers: Int,
                busyWorkers: Int, threadsPerJob: Int, queued: Int, running: Int, stateFolder: String, spools: [String],
                machine: String? = nil, sgemmGflops: Double? = nil, warnings: [String]? = nil, executor: String? = nil,
                submitted: Int? = nil) {
        self.executor = executor
        self.submitted = submitted
        self.version = version
        self.protocolVersion = protocolVersion
        self.pid = pid
        self.startedAt = startedAt
        self.uptimeSeconds = uptimeSeconds
        self.workers = workers
        self.busyWorkers = busyWorkers
        self.threadsPerJob = threadsPerJob
        self.queued = queued
        self.running = running
        self.stateFolder = stateFolder
        self.spools = spools
        self.machine = machine
        self.sgemmGflops = sgemmGflops
        self.warnings = warnings
    }
}

/// Where a job is in its life cycle (the daemon's `JobLifecycle` owns the transitions): queued →
/// (submitted, when an executor such as a cluster holds it before it starts) → running → succeeded,
/// failed or cancelled; a running job whose daemon stops becomes interrupted and is queued again at the
/// next start; a job whose end could not be written to the database is recording-failed.
public enum JobState: String, Codable, Sendable, CaseIterable {
    case queued, submitted, running, interrupted, succeeded, failed, cancelled
    case recordingFailed = "recording-failed"

    /// Whether the job has ended: nothing more will happen to it unless it is retried.
    public var isFinished: Bool {
        switch self {
        case .succeeded, .failed, .cancelled, .recordingFailed: return true
        case .queued, .submitted, .running, .interrupted: return false
        }
    }
}

/// Where a running job stands.
public struct JobProgress: Codable, Sendable, Equatable {
    public var phase: JobPhase
    public var detail: String?
    public var epoch: Int?
    public var epochs: Int?
    public var step: Int?
    public var stepsPerEpoch: Int?
    public var loss: Double?
    public var accuracy: Double?
    public var samplesPerSecond: Double?
    /// Fraction of the phase done, 0…1.
    public var fraction: Double?
    /// Fraction of the whole job done (training and evaluation weighed by their work), 0…1.
    public var jobFraction: Double?
    /// Estimated seconds until the whole job ends, evaluation included, from this attempt's pace.
    public var etaSeconds: Double?
    public init(phase: JobPhase) { self.phase = phase }
}

/// The headline of a succeeded job's evaluation.
public struct ResultOutcome: Codable, Sendable, Equatable {
    public var cleanAccuracy: Double
    public var worstCaseRobustAccuracy: Double
    /// Sanity checks that failed.
    public var warnings: Int
    public init(cleanAccuracy: Double, worstCaseRobustAccuracy: Double, warnings: Int) {
        self.cleanAccuracy = cleanAccuracy
        self.worstCaseRobustAccuracy = worstCaseRobustAccuracy
        self.warnings = warnings
    }
}

public struct JobInfo: Codable, Sendable {
    public var id: Int64
    public var name: String
    public var ownerUID: UInt32
    public var priority: Int
    public var labels: [String]
    public var state: JobState
    public var attempts: Int
    public var source: String
    public var submittedAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var error: String?
    public var progress: JobProgress?
    public var outputFolder: String
    /// Where a cluster executor placed the job (Slurm's job id, partition and node); nil for local jobs.
    public var placement: ClusterPlacement?
    /// The sweep the job belongs to (all the points of one manifest's `sweep:` grid share it).
    public var group: String?
    /// Where the job lies in its sweep's grid: the swept key paths' values, then its seed.
    public var sweepPoint: [SweepCoordinate]?
    /// A succeeded job's headline results (in `list` and `show`).
    public var outcome: ResultOutcome?
    /// Present in `show`: the manifest text, the epochs so far and the job's events.
    public var manifest: String?
    public var epochs: [EpochRecord]?
    public var events: [EventRecord]?

    public init(id: Int64, name: String, ownerUID: UInt32, priority: Int, labels: [String], state: JobState, attempts: Int,
                source: String, submittedAt: Date, outputFolder: String) {
        self.id = id
        self.name = name
        self.ownerUID = ownerUID
        self.priority = priority
        self.labels = labels
        self.state = state
        self.attempts = attempts
        self.source = source
        self.submittedAt = submittedAt
        self.outputFolder = outputFolder
    }
}

/// One submitted manifest's jobs: one job, or one per point of its sweep, in their group.
public struct SubmittedManifest: Codable, Sendable, Equatable {
    public var manifestName: String
    public var ids: [Int64]
    /// The sweep's group (`advctl list --group`), nil for a single experiment.
    public var group: String?

    public init(manifestName: String, ids: [Int64], group: String? = nil) {
        self.manifestName = manifestName
        self.ids = ids
        self.group = group
    }
}

/// One value of a sweep's grid at one job: `train.method = pgd-at`, or `seed = 2`.
public struct SweepCoordinate: Codable, Sendable, Equatable, Hashable {
    /// A key path of the manifest (`train.method`), or `seed`.
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// A job's place in a cluster's scheduler: what an administrator looks up in `squeue`.
public struct ClusterPlacement: Codable, Sendable, Equatable {
    /// The executor that holds it: `slurm`.
    public var executor: String
    /// The cluster's job id (Slurm's `JOBID`).
    public var clusterJobID: String
    public var partition: String?
    /// The node it runs (or last ran) on.
    public var node: String?
    /// The cluster's own state and reason, as last seen (`PENDING (Priority)`).
    public var clusterState: String?
    /// Which of the job's submissions this is (1, 2, …), counted over the job's whole life: a retry
    /// by hand does not start again at 1, so no two of a job's cluster jobs share a name.
    public var submission: Int

    public init(executor: String, clusterJobID: String, partition: String? = nil, node: String? = nil, clusterState: String? = nil,
                submission: Int = 1) {
        self.submission = submission
        self.executor = executor
        self.clusterJobID = clusterJobID
        self.partition = partition
        self.node = node
        self.clusterState = clusterState
    }

    /// `slurm 1234 on debug/node7`: how advctl shows it.
    public var summary: String {
        var text = "\(executor) \(clusterJobID)"
        if let partition { text += " on \(partition)" + (node.map { "/\($0)" } ?? "") } else if let node { text += " on \(node)" }
        if let clusterState { text += " (\(clusterState))" }
        return text
    }
}

public struct EpochRecord: Codable, Sendable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double
    /// Clean accuracy on the validation split (carved from the training data); nil without one.
    public var validationAccuracy: Double?
    /// PGD-10 accuracy on the first validation examples; nil when not measured.
    public var heldOutRobustAccuracy: Double?
    public var learningRate: Double
    public var seconds: Double
    public init(epoch: Int, trainLoss: Double, trainAccuracy: Double, validationAccuracy: Double?, heldOutRobustAccuracy: Double?,
                learningRate: Double, seconds: Double) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.validationAccuracy = validationAccuracy
        self.heldOutRobustAccuracy = heldOutRobustAccuracy
        self.learningRate = learningRate
        self.seconds = seconds
    }
}

public struct EventRecord: Codable, Sendable {
    public var at: Date
    public var kind: String
    public var message: String
    public init(at: Date, kind: String, message: String) {
        self.at = at
        self.kind = kind
        self.message = message
    }
}

/// `report`: the job's report.html, by path and by content.
public struct JobReport: Codable, Sendable, Equatable {
    public var job: Int64
    public var path: String
    public var html: String
    public init(job: Int64, path: String, html: String) {
        self.job = job
        self.path = path
        self.html = html
    }
}

/// `compare`: the jobs' labels, the settings in which they differ, their results (one value per job
/// in each row), and the comparison page.
public struct Comparison: Codable, Sendable, Equatable {
    public struct Row: Codable, Sendable, Equatable {
        public var name: String
        public var values: [String]
        public init(name: String, values: [String]) {
            self.name = name
            self.values = values
        }
    }
    public var jobs: [String]
    public var settings: [Row]
    public var results: [Row]
    public var html: String
    public init(jobs: [String], settings: [Row], results: [Row], html: String) {
        self.jobs = jobs
        self.settings = settings
        self.results = results
        self.html = html
    }
}

/// A finished job's evaluation, from the job store (it outlives the job's files).
public struct JobResults: Codable, Sendable, Equatable {
    public var job: Int64
    public var evaluation: EvaluationSummary
    public init(job: Int64, evaluation: EvaluationSummary) {
        self.job = job
        self.evaluation = evaluation
    }
}

public struct AttackResult: Codable, Sendable, Equatable {
    public var name: String
    public var robustAccuracyAfter: Double
    public var newlyBroken: Int
    public init(name: String, robustAccuracyAfter: Double, newlyBroken: Int) {
        self.name = name
        self.robustAccuracyAfter = robustAccuracyAfter
        self.newlyBroken = newlyBroken
    }
}

public struct EpsilonPoint: Codable, Sendable, Equatable {
    public var epsilon: Double
    public var robustAccuracy: Double
    public init(epsilon: Double, robustAccuracy: Double) {
        self.epsilon = epsilon
        self.robustAccuracy = robustAccuracy
    }
}

public struct LogChunk: Codable, Sendable {
    public var text: String
    /// Where the next read starts.
    public var nextOffset: Int64
    /// Whether the job has finished (no more text will come).
    public var finished: Bool
    public init(text: String, nextOffset: Int64, finished: Bool) {
        self.text = text
        self.nextOffset = nextOffset
        self.finished = finished
    }
}

public struct Artifact: Codable, Sendable {
    public var kind: String
    public var path: String
    public var bytes: Int64?
    public init(kind: String, path: String, bytes: Int64?) {
        self.kind = kind
        self.path = path
        self.bytes = bytes
    }
}
