import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which files a process may read: everything (a user's own `advd run`), or — in a daemon's job —
/// only files beneath the dataset roots, in the job's own folder, and other jobs' trained models.
public struct ReadPolicy: Sendable, Equatable {
    /// Folders whose files may be read (resolved: no symbolic links in them).
    public var roots: [String]
    /// The daemon's job folders: from there, only `<id>/model.safetensors` may be read.
    public var jobsFolder: String?

    public init(roots: [String], jobsFolder: String?) {
        self.roots = roots.map(Self.resolved)
        self.jobsFolder = jobsFolder.map(Self.resolved)
    }

    /// The path with every symbolic link resolved (as far as it exists).
    public static func resolved(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return (path as NSString).standardizingPath }
        defer { free(real) }
        return String(cString: real)
    }

    /// Whether the file that was opened, known by its resolved path, may be read.
    public func allows(resolvedPath path: String) -> Bool {
        func beneath(_ root: String) -> Bool { path.hasPrefix(root.hasSuffix("/") ? root : root + "/") }
        if roots.contains(where: beneath) { return true }
        guard let jobsFolder, beneath(jobsFolder) else { return false }
        let parts = path.dropFirst(jobsFolder.count + 1).split(separator: "/")
        return parts.count == 2 && parts[0].allSatisfy(\.isNumber) && parts[1] == "model.safetensors"
    }
}

/// Reading files so that the check happens where the file is opened: the file is opened first, then
/// the path it really is (`/proc/self/fd/N`, after every symbolic link) is checked against the
/// process's `ReadPolicy` before a byte is read. A folder swapped for a link after a job was
/// admitted therefore leads nowhere outside the roots, and no error message quotes a file's bytes.
public enum FileAccess {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var policy: ReadPolicy?

    /// Confines every later read of this process (a daemon's job calls it once, before reading anything).
    public static func confine(to newPolicy: ReadPolicy) {
        lock.lock()
        policy = newPolicy
        lock.unlock()
    }

    static var current: ReadPolicy? {
        lock.lock()
        defer { lock.unlock() }
        return policy
    }

    /// An open descriptor of the regular file at `path`, allowed by the policy; the caller closes it.
    /// - Throws: `FileAccessError` for a missing, unreadable or non-regular file, or one outside the policy.
    public static func openForReading(_ path: String) throws -> Int32 {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw FileAccessError("\(path): \(errno == ENOENT ? "no such file" : "cannot open (\(String(cString: strerror(errno))))")")
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw FileAccessError("\(path): not a regular file")
        }
        if let policy = current {
            let opened = resolvedPath(of: descriptor)
            guard let opened, policy.allows(resolvedPath: opened) else {
                close(descriptor)
                let target = opened.map { $0 == path ? "" : " (it leads to \($0))" } ?? ""
                throw FileAccessError("\(path)\(target): outside the folders this job may read (\(policy.roots.joined(separator: ", ")), and other jobs' model.safetensors)")
            }
        }
        return descriptor
    }

    /// Every byte of the file at `path` (see `openForReading`).
    public static func readAll(_ path: String) throws -> [UInt8] {
        let descriptor = try openForReading(path)
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = read(descriptor, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw FileAccessError("\(path): cannot read (\(String(cString: strerror(errno))))") }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
        }
    }

    private static func resolvedPath(of descriptor: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/fd/\(descriptor)", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A file that cannot or may not be read; the message names it and why.
public struct FileAccessError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
