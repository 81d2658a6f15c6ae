import Foundation

/// What a job process (`advd run --supervised`) tells the daemon that runs it, one `JobEventLine` of
/// JSON per event on its stdout. The daemon records these values and never reads the job's log, which
/// is for people. A cluster executor reads the same lines from a file.
public enum JobEvent: Codable, Sendable, Equatable {
    /// A new stage begins; `detail` says what it does, for people.
    case phase(JobPhase, detail: String)
    /// Where the current stage stands (a few a second at most).
    case progress(JobProgress)
    /// A finished training epoch of the model being evaluated.
    case epoch(EpochRecord)
    /// A checkpoint was written (the run can resume from it).
    case checkpoint(path: String)
    /// A sanity check found a sign that the evaluation overstates robustness.
    case warning(JobWarning)
    /// The run succeeded: its evaluation, sent once, just before it exits 0.
    case finished(EvaluationSummary)
    /// The run cannot succeed as it is; the reason names the file, key or step, sent just before it exits.
    case failed(reason: String)
}

/// A `JobEvent` on the wire, with the version of the event format and when it happened.
public struct JobEventLine: Codable, Sendable, Equatable {
    /// The event format this build writes; a reader refuses lines of another version.
    public static let currentVersion = 1

    public var version: Int
    public var at: Date
    public var event: JobEvent

    public init(_ event: JobEvent, at: Date = Date()) {
        version = Self.currentVersion
        self.at = at
        self.event = event
    }

    /// Reads one line (without its newline).
    /// - Throws: `JobEventError` for a line of another version or one that is not an event.
    public static func decode(_ line: Data) throws -> JobEventLine {
        struct Version: Decodable { var version: Int }
        let version: Int
        do { version = try Wire.decode(Version.self, from: line).version } catch {
            throw JobEventError("not a job event (\(String(decoding: line.prefix(80), as: UTF8.self))): \(error)")
        }
        guard version == currentVersion else {
            throw JobEventError("job event version \(version); this advd reads version \(currentVersion) (is the job's advd another release?)")
        }
        do { return try Wire.decode(JobEventLine.self, from: line) } catch {
            throw JobEventError("malformed job event (\(String(decoding: line.prefix(80), as: UTF8.self))): \(error)")
        }
    }
}

/// A job event line that could not be read.
public struct JobEventError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The stage a job is in.
public enum JobPhase: Codable, Sendable, Equatable, CustomStringConvertible {
    case loading
    case teacher
    case pseudoLabelling
    case training
    case calibratingDetector
    /// Attack `attack` (from 1) of `of`.
    case evaluating(attack: Int, of: Int)
    case epsilonCurve
    case sanityChecks
    case writing

    /// `training`, `evaluating 2/3`: how advctl shows it.
    public var description: String {
        switch self {
        case .loading: return "loading"
        case .teacher: return "teacher"
        case .pseudoLabelling: return "pseudo-labelling"
        case .training: return "training"
        case .calibratingDetector: return "calibrating the detector"
        case let .evaluating(attack, count): return "evaluating \(attack)/\(count)"
        case .epsilonCurve: return "ε-curve"
        case .sanityChecks: return "sanity checks"
        case .writing: return "writing"
        }
    }
}

/// A sign that an evaluation overstates robustness (Carlini et al. 2019), with what was measured and
/// what to try.
public struct JobWarning: Codable, Sendable, Equatable {
    /// A stable identifier, e.g. `black-box-beats-white-box`.
    public var check: String
    public var message: String
    public var evidence: String
    public var suggestion: String

    public init(check: String, message: String, evidence: String, suggestion: String) {
        self.check = check
        self.message = message
        self.evidence = evidence
        self.suggestion = suggestion
    }
}

/// A finished evaluation as the daemon stores and shows it.
public struct EvaluationSummary: Codable, Sendable, Equatable {
    /// The threat model, with the defense in front of the model if any.
    public var threatModel: String
    public var examples: Int
    public var cleanAccuracy: Double
    public var worstCaseRobustAccuracy: Double
    public var attacks: [AttackResult]
    public var epsilonCurve: [EpsilonPoint]
    public var warnings: [JobWarning]

    public init(threatModel: String, examples: Int, cleanAccuracy: Double, worstCaseRobustAccuracy: Double,
                attacks: [AttackResult], epsilonCurve: [EpsilonPoint], warnings: [JobWarning]) {
        self.threatModel = threatModel
        self.examples = examples
        self.cleanAccuracy = cleanAccuracy
        self.worstCaseRobustAccuracy = worstCaseRobustAccuracy
        self.attacks = attacks
        self.epsilonCurve = epsilonCurve
        self.warnings = warnings
    }
}
