import CSystemd
import Foundation
import Logging

/// A swift-log handler that writes to the systemd journal with structured fields: MESSAGE, PRIORITY,
/// SYSLOG_IDENTIFIER, CODE_FILE/CODE_LINE/CODE_FUNC, ERROR when the call passes one, and every metadata key upper-cased (`job_id` → JOB_ID), so
/// `journalctl -u advd JOB_ID=42` shows one job's story. `sd_journal_send` is variadic and cannot be
/// called from Swift; `sd_journal_sendv` takes an array of iovecs instead.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let identifier: String

    public init(identifier: String) {
        self.identifier = identifier
    }

    /// Whether stderr goes to the journal (systemd sets JOURNAL_STREAM for services).
    public static var isJournalAttached: Bool {
        ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = ["MESSAGE=\(event.message)", "PRIORITY=\(Self.priority(event.level))",
                      "SYSLOG_IDENTIFIER=\(identifier)", "CODE_FILE=\(event.file)", "CODE_LINE=\(event.line)",
                      "CODE_FUNC=\(event.function)"]
        if let error = event.error { fields.append("ERROR=\(error)") }
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            let name = key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
            fields.append("\(String(name))=\(value)")
        }
        // each field copied into memory of its own that lives until the call returns
        let copies = fields.map { field -> (UnsafeMutableRawPointer, Int) in
            let bytes = Array(field.utf8)
            let memory = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            memory.copyMemory(from: bytes, byteCount: bytes.count)
            return (memory, bytes.count)
        }
        defer { copies.forEach { $0.0.deallocate() } }
        var vectors = copies.map { iovec(iov_base: $0.0, iov_len: $0.1) }
        _ = sd_journal_sendv(&vectors, Int32(vectors.count))
    }

    /// syslog priorities: 2 critical … 7 debug.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .critical: return 2
        case .error: return 3
        case .warning: return 4
        case .notice: return 5
        case .info: return 6
        case .debug, .trace: return 7
        }
    }
}
