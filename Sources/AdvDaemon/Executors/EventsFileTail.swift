import AdvProtocol
import Foundation

/// Reads a cluster job's `events.jsonl` as it grows: each call returns the whole lines added since
/// the last, decoded. A line still being written (no newline yet) waits for the next call.
public struct EventsFileTail: Sendable {
    public let path: String
    public private(set) var offset: UInt64 = 0
    private var partial = Data()
    /// Whether the job has reported its end (a `finished` or `failed` event) since the last reset.
    public private(set) var sawFinished = false
    public private(set) var sawFailure: String?

    public init(path: String) {
        self.path = path
    }

    /// The events added since the last call (none when the file does not exist yet).
    public mutating func readNew() -> [Result<JobEvent, JobEventError>] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: offset)) != nil, let data = try? handle.readToEnd(), !data.isEmpty else { return [] }
        offset += UInt64(data.count)
        partial.append(data)
        var events: [Result<JobEvent, JobEventError>] = []
        while let end = partial.firstIndex(of: 0x0A) {
            let line = Data(partial[partial.startIndex..<end])
            partial.removeSubrange(partial.startIndex...end)
            guard !line.isEmpty else { continue }
            let event = Result { try JobEventLine.decode(line).event }.mapError { $0 as? JobEventError ?? JobEventError("\($0)") }
            switch event {
            case .success(.finished): sawFinished = true
            case .success(.failed(let reason)): sawFailure = reason
            default: break
            }
            events.append(event)
        }
        return events
    }
}
