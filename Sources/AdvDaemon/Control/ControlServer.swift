import AdvProtocol
import Dispatch
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Who is on the other end of a connection, from the kernel (`SO_PEERCRED`), not from the request.
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
}

/// Bounds on the control socket's clients, so that no number of idle, slow or hostile connections
/// can keep the daemon from answering the others.
public struct ConnectionLimits: Codable, Sendable, Equatable {
    /// Open connections at most, and per peer uid; a connection over either is refused with a reason.
    public var maximum = 2048
    public var perUID = 256
    /// Seconds a new connection has to send its first complete request line.
    public var firstRequestSeconds = 5.0
    /// Seconds a connection may stay silent between requests (`advctl logs --follow` asks every half second).
    public var idleSeconds = 60.0
    /// Seconds an answer may wait for a client that does not read it.
    public var writeSeconds = 10.0

    public init() {}
}

/// The control socket: a Unix stream socket (mode 0660, group `advd`, backlog 256) speaking
/// `AdvProtocol`'s newline-delimited JSON, served by one event-loop thread over poll(2): no thread per
/// connection, so idle or slow clients cost a descriptor and a buffer, never a thread. Each
/// connection has a deadline (its first request, silence between requests, an answer it does not
/// read) and the loop closes it when it passes; connections over `ConnectionLimits` are refused at
/// once with the reason. Requests are decoded and answered on Dispatch's pool (answers come from the
/// job store, whose WAL reads never wait for the workers' writes), one at a time per connection, in
/// order. A request line over `Wire.maximumRequestBytes`, or one that does not decode, gets an error
/// response and the connection is closed.
public final class ControlServer: @unchecked Sendable {
    public typealias Handler = @Sendable (Request, PeerCredentials) -> Response

    let path: String
    let group: String?
    let handler: Handler
    let logger: Logger
    let limits: ConnectionLimits
    private var listener: Int32 = -1
    private var loop: ControlEventLoop?

    public init(path: String, group: String?, limits: ConnectionLimits = ConnectionLimits(), logger: Logger,
                handler: @escaping Handler) {
        self.path = path
        self.group = group
        self.limits = limits
        self.logger = logger
        self.handler = handler
    }

    /// Binds and starts accepting.
    /// - Throws: `DaemonError` when another daemon answers on the path or the socket cannot be made.
    public func start() throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard let address = UnixSocketAddress(path: path) else { throw DaemonError("\(path): socket path too long") }
        if FileManager.default.fileExists(atPath: path) {
            // a socket file left by a crash is removed; one that answers belongs to a running daemon
            let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            let answered = address.connect(probe) == 0
            close(probe)
            if answered { throw DaemonError("\(path): another advd is already listening here") }
            unlink(path)
        }
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw DaemonError("cannot create the control socket: \(String(cString: strerror(errno)))") }
        // bind with a restrictive umask so there is no moment at which the socket is world-accessible
        let oldMask = umask(0o117)
        let bound = address.bind(listener)
        umask(oldMask)
        guard bound == 0 else { throw DaemonError("\(path): cannot bind the control socket: \(String(cString: strerror(errno)))") }
        if let group, let entry = getgrnam(group) {
            if chown(path, uid_t.max, entry.pointee.gr_gid) != 0 {
                logger.warning("\(path): cannot give the socket to group \(group): \(String(cString: strerror(errno)))")
            }
        }
        chmod(path, 0o660)
        guard listen(listener, 256) == 0 else { throw DaemonError("\(path): listen failed: \(String(cString: strerror(errno)))") }
        let loop = try ControlEventLoop(listener: listener, limits: limits, handler: handler, logger: logger)
        self.loop = loop
        let thread = Thread { loop.run() }
        thread.name = "advd.control.loop"
        thread.start()
    }

    /// Stops the loop (its connections are closed) and removes the socket file.
    public func stop() {
        loop?.stop()
        unlink(path)
    }
}
