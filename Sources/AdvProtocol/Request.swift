import Foundation

/// What a client asks of the daemon: one case per `advctl` command, each with the payload it needs, so
/// a request cannot be half-formed and the daemon's one `switch` over it is exhaustive.
///
/// On the wire (one JSON object per line): `{"version": 2, "command": "show", "arguments": {"job": 3}}`;
/// commands without arguments omit them. `Request.decode` reads a line and says exactly what is wrong
/// with one it cannot read: the version, the command or the field.
public enum Request: Sendable, Equatable {
    case status
    /// One or more manifests, queued all together or not at all.
    case submit([Submission])
    case list(ListQuery)
    case show(JobReference)
    /// The job's log from byte `offset` (follow mode asks again from where it stopped).
    case logs(LogQuery)
    case results(JobReference)
    case cancel(JobReference)
    case retry(JobReference)
    case artifacts(JobReference)
    /// A job's report.html: where it is, and its text.
    case report(ReportQuery)
    /// Finished jobs side by side.
    case compare(CompareQuery)

    /// The commands' names on the wire.
    public enum Command: String, Codable, Sendable, CaseIterable {
        case status, submit, list, show, logs, results, cancel, retry, artifacts, report, compare
    }

    public var command: Command {
        switch self {
        case .status: return .status
        case .submit: return .submit
        case .list: return .list
        case .show: return .show
        case .logs: return .logs
        case .results: return .results
        case .cancel: return .cancel
        case .retry: return .retry
        case .artifacts: return .artifacts
        case .report: return .report
        case .compare: return .compare
        }
    }
}

/// `submit`: a manifest's text, the name it came with (its file name), its priority and labels.
public struct Submission: Codable, Sendable, Equatable {
    public var manifest: String
    public var manifestName: String
    public var priority: Int
    public var labels: [String]

    public init(manifest: String, manifestName: String, priority: Int = 0, labels: [String] = []) {
        self.manifest = manifest
        self.manifestName = manifestName
        self.priority = priority
        self.labels = labels
    }
}

/// `list`: filters, all optional (no states: every state).
public struct ListQuery: Codable, Sendable, Equatable {
    public var states: [JobState]
    public var nameContains: String?
    public var label: String?
    /// At most this many jobs: the newest ones.
    public var limit: Int?
    /// Only jobs submitted at or after this time.
    public var since: Date?
    /// Only the jobs of this sweep group.
    public var group: String?

    public init(states: [JobState] = [], nameContains: String? = nil, label: String? = nil, limit: Int? = nil, since: Date? = nil,
                group: String? = nil) {
        self.group = group
        self.states = states
        self.nameContains = nameContains
        self.label = label
        self.limit = limit
        self.since = since
    }
}

/// `report`: a job, and whether to inline its example images (as data: URLs) so that the page can be
/// saved anywhere and still show them.
public struct ReportQuery: Codable, Sendable, Equatable {
    public var job: Int64
    public var inlineImages: Bool
    public init(job: Int64, inlineImages: Bool = false) {
        self.job = job
        self.inlineImages = inlineImages
    }
}

/// `compare`: two or more finished jobs.
public struct CompareQuery: Codable, Sendable, Equatable {
    public var jobs: [Int64]
    public init(jobs: [Int64]) { self.jobs = jobs }
}

/// The job a command acts on.
public struct JobReference: Codable, Sendable, Equatable {
    public var job: Int64
    public init(job: Int64) { self.job = job }
}

/// `logs`: a job and the byte offset to read from.
public struct LogQuery: Codable, Sendable, Equatable {
    public var job: Int64
    public var offset: Int64
    public init(job: Int64, offset: Int64 = 0) {
        self.job = job
        self.offset = offset
    }
}

extension Request {
    /// The request as one line of JSON, newline included.
    /// - Throws: `EncodingError`.
    public func encodedLine() throws -> Data {
        switch self {
        case .status: return try Wire.encodeLine(Envelope<Empty>(command: command, arguments: nil))
        case let .submit(submissions): return try Wire.encodeLine(Envelope(command: command, arguments: submissions))
        case let .list(query): return try Wire.encodeLine(Envelope(command: command, arguments: query))
        case let .logs(query): return try Wire.encodeLine(Envelope(command: command, arguments: query))
        case let .show(job), let .results(job), let .cancel(job), let .retry(job), let .artifacts(job):
            return try Wire.encodeLine(Envelope(command: command, arguments: job))
        case let .report(query): return try Wire.encodeLine(Envelope(command: command, arguments: query))
        case let .compare(query): return try Wire.encodeLine(Envelope(command: command, arguments: query))
        }
    }

    /// Reads one request line (without its newline).
    /// - Throws: `ProtocolError`: `badRequest` for a line that is not a request of this version or
    ///   whose arguments are wrong (naming the field), `unknownCommand` naming the commands there are.
    public static func decode(_ line: Data) throws -> Request {
        struct Header: Decodable {
            var version: Int
            var command: String
        }
        let header: Header
        do { header = try Wire.decode(Header.self, from: line) } catch {
            throw ProtocolError(code: .badRequest, message: "not a valid request: \(Wire.describe(error)); send one JSON object per line with version and command")
        }
        guard header.version == Wire.version else {
            throw ProtocolError(code: .badRequest, message: "protocol version \(header.version) is not supported; this daemon speaks version \(Wire.version) (use the advctl of the same release)")
        }
        guard let command = Command(rawValue: header.command) else {
            throw ProtocolError(code: .unknownCommand, message: "unknown command \"\(header.command)\"; expected one of \(Command.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        func arguments<Payload: Codable>(_ type: Payload.Type) throws -> Payload {
            let envelope: Envelope<Payload>
            do { envelope = try Wire.decode(Envelope<Payload>.self, from: line) } catch {
                throw ProtocolError(code: .badRequest, message: "\(command.rawValue): \(Wire.describe(error))")
            }
            guard let payload = envelope.arguments else {
                throw ProtocolError(code: .badRequest, message: "\(command.rawValue): missing field arguments")
            }
            return payload
        }
        switch command {
        case .status: return .status
        case .submit: return .submit(try arguments([Submission].self))
        case .list: return .list(try arguments(ListQuery.self))
        case .show: return .show(try arguments(JobReference.self))
        case .logs: return .logs(try arguments(LogQuery.self))
        case .results: return .results(try arguments(JobReference.self))
        case .cancel: return .cancel(try arguments(JobReference.self))
        case .retry: return .retry(try arguments(JobReference.self))
        case .artifacts: return .artifacts(try arguments(JobReference.self))
        case .report: return .report(try arguments(ReportQuery.self))
        case .compare: return .compare(try arguments(CompareQuery.self))
        }
    }

    private struct Empty: Codable {}

    private struct Envelope<Arguments: Codable>: Codable {
        var version = Wire.version
        var command: Command
        var arguments: Arguments?

        init(command: Command, arguments: Arguments?) {
            self.command = command
            self.arguments = arguments
        }
    }
}
