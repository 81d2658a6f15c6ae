#if canImport(Glibc)
import Glibc
#endif

/// A Unix socket's file-system address, built once for `connect(2)` or `bind(2)`; the daemon, advctl
/// and the tests all reach the control socket (and systemd's notify socket) through it.
public struct UnixSocketAddress {
    public let path: String
    private var storage = sockaddr_un()

    /// nil when `path` does not fit in `sun_path` (108 bytes on Linux, terminator included).
    public init?(path: String) {
        self.path = path
        storage.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: storage.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &storage.sun_path) { $0.copyBytes(from: bytes) }
    }

    /// `connect(2)`'s result: 0, or −1 with `errno` set.
    public func connect(_ descriptor: Int32) -> Int32 {
        withSockaddr { Glibc.connect(descriptor, $0, $1) }
    }

    /// `bind(2)`'s result: 0, or −1 with `errno` set.
    public func bind(_ descriptor: Int32) -> Int32 {
        withSockaddr { Glibc.bind(descriptor, $0, $1) }
    }

    private func withSockaddr(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = storage
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
