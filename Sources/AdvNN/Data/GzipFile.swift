import CZlib
import Foundation

/// Reads a whole file through zlib, which inflates gzip files and passes other files through unchanged,
/// so `.gz` and plain IDX files load the same way.
enum GzipFile {
    /// The decompressed bytes of the file at `path`.
    /// - Throws: `DatasetError` when the file is missing, unreadable or a corrupt/truncated gzip stream.
    static func readAll(_ path: String) throws -> [UInt8] {
        let descriptor: Int32
        do { descriptor = try FileAccess.openForReading(path) } catch { throw DatasetError("\(error)") }
        // zlib owns the descriptor from here and closes it with the file
        guard let file = gzdopen(descriptor, "rb") else {
            close(descriptor)
            throw DatasetError("\(path): cannot open (\(String(cString: strerror(errno))))")
        }
        defer { gzclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let read = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if read < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "unknown error"
                throw DatasetError("\(path): corrupt or truncated gzip data (\(message))")
            }
            if read == 0 { break }
            bytes += chunk[0..<Int(read)]
        }
        // zlib reports a gzip stream cut short as a clean end of file; check for it explicitly.
        var code: Int32 = 0
        _ = gzerror(file, &code)
        if code == Z_BUF_ERROR { throw DatasetError("\(path): truncated gzip file") }
        return bytes
    }
}
