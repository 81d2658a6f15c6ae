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

/// The control socket: a Unix stream socket (mode 0660, group `advd` where it exists, backlog 256)
/// speaking `AdvProtocol`'s newline-delimited JSON. A thread blocked in accept(2) hands each
/// connection to Dispatch's concurrent pool, which reads it with blocking reads and a timeout (plain
/// descriptors rather than Dispatch read sources, whose teardown is fragile on Linux — see
/// `JobProcess`). Requests are answered from the job store (WAL reads never wait for the workers'
/// writes), so the socket stays responsive however busy the jobs are. A request line over
/// `Wire.maximumRequestBytes`, or one that does not decode, gets an error response and the
/// connection is closed.
public final class ControlServer: @unchecked Sendable {
    public typealias Handler = @Sendable (Request, PeerCredentials) -> Response

    let path: String
    let group: String?
    let handler: Handler
    let logger: Logger
    private var listener: Int32 = -1

    public init(path: String, group: String?, logger: Logger, handler: @escaping Handler) {
        self.path = path
        self.group = group
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
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "advd.control.accept"
        thread.start()
    }

    /// Stops accepting (shutdown(2) wakes the blocked accept) and removes the socket file.
    public func stop() {
        if listener >= 0 { shutdown(listener, Int32(SHUT_RDWR)) }
        unlink(path)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE {
                    if errno == EMFILE || errno == ENFILE { usleep(10_000) }   // out of descriptors: let others close
                    continue
                }
                return   // the listener was shut down
            }
            // accept4 is not visible to Swift: mark close-on-exec right away. A job spawned in between
            // would inherit this connection, which is harmless: clients read one answer per request
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            var credentials = PeerCredentials(pid: 0, uid: UInt32.max, gid: UInt32.max)
            var length = socklen_t(MemoryLayout<PeerCredentials>.size)
            guard getsockopt(client, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else {
                close(client)
                continue
            }
            // a client that stops reading or writing must not hold a thread forever
            var sendTimeout = timeval(tv_sec: 5, tv_usec: 0), receiveTimeout = timeval(tv_sec: 60, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &receiveTimeout, socklen_t(MemoryLayout<timeval>.size))
            let connection = ClientConnection(descriptor: client, peer: credentials, handler: handler, logger: logger)
            DispatchQueue.global(qos: .userInitiated).async { connection.serve() }
        }
    }
}

/// One client connection: reads request lines, answers each, closes on end of file, timeout or a bad request.
final class ClientConnection: Sendable {
    private let descriptor: Int32
    private let peer: PeerCredentials
    private let handler: ControlServer.Handler
    private let logger: Logger

    init(descriptor: Int32, peer: PeerCredentials, handler: @escaping ControlServer.Handler, logger: Logger) {
        self.descriptor = descriptor
        self.peer = peer
        self.handler = handler
        self.logger = logger
    }

    func serve() {
        defer { close(descriptor) }
        var buffer = Data()
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(descriptor, &chunk, chunk.count, 0)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }   // end of file, timeout or error
            buffer.append(contentsOf: chunk[0..<count])
            while let end = buffer.firstIndex(of: 0x0A) {
                let line = Data(buffer[buffer.startIndex..<end])
                buffer.removeSubrange(buffer.startIndex...end)
                guard respond(to: line) else { return }
            }
            if buffer.count > Wire.maximumRequestBytes {
                send(.failure(.badRequest, "request longer than \(Wire.maximumRequestBytes) bytes"))
                return
            }
        }
    }

    /// Answers one line; false when the connection should close.
    private func respond(to line: Data) -> Bool {
        guard line.count <= Wire.maximumRequestBytes else {
            send(.failure(.badRequest, "request longer than \(Wire.maximumRequestBytes) bytes"))
            return false
        }
        let request: Request
        do { request = try Request.decode(line) } catch {
            send(.failure(error as? ProtocolError ?? ProtocolError(code: .badRequest, message: "not a valid request: \(error)")))
            return false
        }
        send(handler(request, peer))
        return true
    }

    private func send(_ response: Response) {
        let data: Data
        do { data = try response.encodedLine() } catch {
            logger.error("an answer could not be encoded: \(error)")
            data = (try? Response.failure(.internal, "internal error in advd: the answer could not be encoded; see the daemon's log").encodedLine())
                ?? Data("{\"ok\":false,\"version\":\(Wire.version)}\n".utf8)
        }
        data.withUnsafeBytes { bytes in
            var sent = 0
            while sent < bytes.count {
                let count = Glibc.send(descriptor, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return }
                sent += count
            }
        }
    }
}
