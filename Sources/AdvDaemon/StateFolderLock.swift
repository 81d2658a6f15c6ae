import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One daemon per state folder: an exclusive lock on `<state>/advd.lock`, taken before the daemon
/// touches anything, that holds the owner's pid. A second daemon on the same folder would requeue the
/// first one's running jobs as "interrupted" and run them twice; it stops at once instead, naming the
/// first. The kernel releases the lock when the process dies, so a crash never leaves a stale one.
final class StateFolderLock {
    private let descriptor: Int32

    /// Takes the lock.
    /// - Throws: `DaemonError` naming the other daemon's pid when it holds the lock, or why the lock
    ///   file cannot be opened.
    init(stateFolder: String) throws {
        let path = stateFolder + "/advd.lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw DaemonError("\(path): cannot open the lock file: \(String(cString: strerror(errno)))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(descriptor, &buffer, buffer.count, 0)
            close(descriptor)
            guard reason == EWOULDBLOCK else { throw DaemonError("\(path): cannot lock: \(String(cString: strerror(reason)))") }
            let owner = Int32(String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            throw DaemonError("\(stateFolder): another advd\(owner.map { " (pid \($0))" } ?? "") is using this state folder; stop it first, or give this one another --state-folder")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, pid, pid.count, 0)
    }

    /// Releases the lock (the daemon stopped).
    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
