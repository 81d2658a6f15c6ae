import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Crash-safe file replacement: write a temporary file in the same folder, fsync it, rename it over
/// the target, then fsync the folder so the rename itself is durable. A crash at any instant leaves
/// either the old file or the new one, never a torn one.
public enum AtomicFile {
    /// Replaces the file at `path` with `bytes`.
    /// - Throws: `CheckpointError` naming the path and the failing system call.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary = (folder.isEmpty ? "." : folder) + "/.\(name).tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw systemError("create", temporary) }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                let error = systemError("write", temporary)
                close(descriptor)
                unlink(temporary)
                throw error
            }
            written += result
        }
        guard fsync(descriptor) == 0 else {
            let error = systemError("fsync", temporary)
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let error = systemError("rename to \(path)", temporary)
            unlink(temporary)
            throw error
        }
        try syncFolder(folder.isEmpty ? "." : folder)
    }

    /// Makes the folder's entries (a rename, a new file) durable.
    public static func syncFolder(_ folder: String) throws {
        let descriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw systemError("open folder", folder) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw systemError("fsync folder", folder) }
    }

    private static func systemError(_ operation: String, _ path: String) -> CheckpointError {
        CheckpointError("\(path): \(operation) failed: \(String(cString: strerror(errno)))")
    }
}
