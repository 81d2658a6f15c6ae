import Foundation

/// The daemon's answer: `ok` with the payload the command asked for, or an error.
public struct Response: Codable, Sendable {
    public var version = Wire.version
    public var ok: Bool
    public var error: ProtocolError?
    public var status: DaemonStatus?
    public var job: JobInfo?
    public var jobs: [JobInfo]?
    public var submitted: [Int64]?
    public var results: JobResults?
    public var logs: LogChunk?
    public var artifacts: [Artifact]?

    public init(ok: Bool = true) { self.ok = ok }

    public static func failure(_ code: ProtocolError.Code, _ message: String) -> Response {
        var response = Response(ok: false)
        response.error = ProtocolError(code: code, message: message)
        return response
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
        case `internal`
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
    public init(version: String, protocolVersion: Int, pid: Int32, startedAt: Date, uptimeSeconds: Double, workers: Int,
                busyWorkers: Int, threadsPerJob: Int, queued: Int, running: Int, stateFolder: String, spools: [String]) {
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
    }
}

/// The life cycle: queued → running → succeeded | failed | cancelled; a running job whose daemon
/// stops becomes interrupted and is queued again at the next start.
public enum JobState: String, Codable, Sendable, CaseIterable {
    case queued, running, interrupted, succeeded, failed, cancelled

    public var isFinished: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// Where a running job stands.
public struct JobProgress: Codable, Sendable, Equatable {
    /// `training`, `teacher`, `evaluation` or another phase name.
    public var phase: String
    public var detail: String?
    public var epoch: Int?
    public var epochs: Int?
    public var step: Int?
    public var stepsPerEpoch: Int?
    public var loss: Double?
    public var accuracy: Double?
    public var samplesPerSecond: Double?
    /// Fraction of the phase done, 0…1, and the estimated seconds left in it.
    public var fraction: Double?
    public var etaSeconds: Double?
    public init(phase: String) { self.phase = phase }
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

public struct EpochRecord: Codable, Sendable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var testAccuracy: Double
    public var heldOutRobustAccuracy: Double?
    public var learningRate: Double
    public var seconds: Double
    public init(epoch: Int, trainLoss: Double, trainAccuracy: Double, testAccuracy: Double, heldOutRobustAccuracy: Double?,
                learningRate: Double, seconds: Double) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.testAccuracy = testAccuracy
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

/// A finished job's evaluation, from the job store (it outlives the job's files).
public struct JobResults: Codable, Sendable {
    public var job: Int64
    public var threatModel: String
    public var examples: Int
    public var cleanAccuracy: Double
    public var worstCaseRobustAccuracy: Double
    public var attacks: [AttackResult]
    public var epsilonCurve: [EpsilonPoint]
    public var warnings: [String]
    public init(job: Int64, threatModel: String, examples: Int, cleanAccuracy: Double, worstCaseRobustAccuracy: Double,
                attacks: [AttackResult], epsilonCurve: [EpsilonPoint], warnings: [String]) {
        self.job = job
        self.threatModel = threatModel
        self.examples = examples
        self.cleanAccuracy = cleanAccuracy
        self.worstCaseRobustAccuracy = worstCaseRobustAccuracy
        self.attacks = attacks
        self.epsilonCurve = epsilonCurve
        self.warnings = warnings
    }
}

public struct AttackResult: Codable, Sendable {
    public var name: String
    public var robustAccuracyAfter: Double
    public var newlyBroken: Int
    public init(name: String, robustAccuracyAfter: Double, newlyBroken: Int) {
        self.name = name
        self.robustAccuracyAfter = robustAccuracyAfter
        self.newlyBroken = newlyBroken
    }
}

public struct EpsilonPoint: Codable, Sendable {
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
