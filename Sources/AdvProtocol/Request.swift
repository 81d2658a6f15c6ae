/// What a client asks of the daemon. One flat structure rather than an enum with payloads, so that a
/// request missing a field, or naming an unknown command, can be answered with an error that says
/// exactly that.
public struct Request: Codable, Sendable, Equatable {
    public enum Command: String, Codable, Sendable, CaseIterable {
        case status, submit, list, show, logs, results, cancel, retry, artifacts
    }

    public var version: Int
    public var command: String
    /// The job for show, logs, results, cancel, retry and artifacts.
    public var job: Int64?
    /// submit: the manifest text, a name for it (its file name), and optional priority and labels.
    public var manifest: String?
    public var manifestName: String?
    public var priority: Int?
    public var labels: [String]?
    /// list: filters (all optional): states, a name substring, a label.
    public var states: [String]?
    public var name: String?
    public var label: String?
    public var limit: Int?
    /// logs: the byte offset to read from (follow mode asks again from where it stopped).
    public var offset: Int64?

    public init(command: Command, job: Int64? = nil) {
        version = Wire.version
        self.command = command.rawValue
        self.job = job
    }
}
