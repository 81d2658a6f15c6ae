import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Watches spool folders with inotify — no polling — and reports each file that became complete:
/// closed after writing (`IN_CLOSE_WRITE`) or renamed into the folder (`IN_MOVED_TO`, the maildir
/// convention: write elsewhere on the same file system, then `mv` in). Files already present when
/// watching starts (dropped while the daemon was down) are reported first. A kernel queue overflow
/// rescans every folder, so a burst larger than the queue loses nothing.
public final class SpoolWatcher: @unchecked Sendable {
    public typealias Handler = (_ folder: SpoolFolder, _ name: String) -> Void

    private let folders: [SpoolFolder]
    private let queue: DispatchQueue
    private let handler: Handler
    private var descriptor: Int32 = -1
    private var watches: [Int32: SpoolFolder] = [:]
    private var source: DispatchSourceRead?
    private var rescanTimer: DispatchSourceTimer?
    /// Seconds between rescans of every folder.
    public var rescanSeconds = 5.0

    /// - Parameters:
    ///   - queue: a serial queue; `handler` runs on it, one file at a time.
    public init(folders: [SpoolFolder], queue: DispatchQueue, handler: @escaping Handler) {
        self.folders = folders
        self.queue = queue
        self.handler = handler
    }

    /// Creates missing folders, starts watching, then reports the files already there.
    /// - Throws: `DaemonError` naming the folder that cannot be watched.
    public func start() throws {
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { throw DaemonError("inotify_init1: \(String(cString: strerror(errno)))") }
        for folder in folders {
            do {
                try FileManager.default.createDirectory(atPath: folder.path, withIntermediateDirectories: true)
            } catch {
                throw DaemonError("\(folder.path): cannot create the spool folder: \(error.localizedDescription)")
            }
            let watch = inotify_add_watch(descriptor, folder.path, UInt32(IN_CLOSE_WRITE | IN_MOVED_TO))
            guard watch >= 0 else { throw DaemonError("\(folder.path): cannot watch the spool folder: \(String(cString: strerror(errno)))") }
            watches[watch] = folder
        }
        // the inotify descriptor stays open for the daemon's life (closed only in the cancel handler),
        // so this read source never meets the teardown race that JobProcess avoids
        let source = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: queue)
        source.setEventHandler { [weak self] in self?.readEvents() }
        source.setCancelHandler { [descriptor] in close(descriptor) }
        source.resume()
        self.source = source
        // watching first, scanning second: a file arriving in between is reported twice, never missed
        // (the ingestor recognises a file it already recorded)
        queue.async { self.scanAll() }
        // and a rescan every few seconds: a file that arrived when it could not be recorded (a full
        // disk) is taken once it can be, without a restart
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + rescanSeconds, repeating: rescanSeconds)
        timer.setEventHandler { [weak self] in self?.scanAll() }
        timer.resume()
        rescanTimer = timer
    }

    public func stop() {
        source?.cancel()
        source = nil
        rescanTimer?.cancel()
        rescanTimer = nil
    }

    /// Whether a name is a temporary or hidden file that must never become a job.
    public static func isIgnored(_ name: String) -> Bool {
        name.hasPrefix(".") || name.hasSuffix("~") || name.hasPrefix("#") || name.hasSuffix(".swp") || name.hasSuffix(".swx")
            || name.hasSuffix(".tmp") || name.hasSuffix(".part") || name.hasSuffix(".error")
    }

    private func scanAll() {
        for folder in folders { scan(folder) }
    }

    private func scan(_ folder: SpoolFolder) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
        for name in names where !Self.isIgnored(name) { handler(folder, name) }
    }

    private func readEvents() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            guard count > 0 else { return }   // EAGAIN: drained
            var offset = 0
            let headerSize = MemoryLayout<inotify_event>.size
            while offset + headerSize <= count {
                let (watch, mask, nameLength) = buffer.withUnsafeBytes { raw -> (Int32, UInt32, Int) in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.wd, event.mask, Int(event.len))
                }
                let nameBytes = buffer[(offset + headerSize)..<(offset + headerSize + nameLength)].prefix { $0 != 0 }
                offset += headerSize + nameLength
                if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                    scanAll()
                    continue
                }
                guard let folder = watches[watch], mask & UInt32(IN_ISDIR) == 0 else { continue }
                let name = String(decoding: nameBytes, as: UTF8.self)
                if !name.isEmpty && !Self.isIgnored(name) { handler(folder, name) }
            }
        }
    }
}
