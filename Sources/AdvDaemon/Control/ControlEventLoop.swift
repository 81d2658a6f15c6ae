import AdvProtocol
import Dispatch
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The control socket's event loop: one thread polls the listener, a wake-up pipe and every client
/// (all non-blocking), reads request lines, hands each to Dispatch's pool and writes back the answers
/// the pool posts. Everything but the posted answers is touched by the loop thread alone.
final class ControlEventLoop: @unchecked Sendable {
    private let listener: Int32
    private let limits: ConnectionLimits
    private let handler: ControlServer.Handler
    private let logger: Logger
    private let work = DispatchQueue(label: "advd.control.requests", qos: .userInitiated, attributes: .concurrent)

    /// The pipe the pool writes a byte into when it posts an answer, and `stop` when the loop should end.
    private let wakeRead: Int32, wakeWrite: Int32
    private let postedLock = NSLock()
    private var posted: [(id: UInt64, answer: Data, close: Bool)] = []
    private var stopping = false

    private var connections: [UInt64: Connection] = [:]
    private var perUID: [UInt32: Int] = [:]
    private var nextID: UInt64 = 1

    /// One client: its buffers, whether a request of it is being answered, and its deadline.
    private final class Connection {
        let id: UInt64
        let descriptor: Int32
        let peer: PeerCredentials
        var input: [UInt8] = []
        var output: [UInt8] = []
        var sent = 0
        /// A request is with the pool; the next line waits for its answer.
        var busy = false
        /// Close once the output is written (a bad request, or the peer closed its end).
        var closing = false
        var deadline: UInt64
        var hasRequested = false

        init(id: UInt64, descriptor: Int32, peer: PeerCredentials, deadline: UInt64) {
            self.id = id
            self.descriptor = descriptor
            self.peer = peer
            self.deadline = deadline
        }
    }

    init(listener: Int32, limits: ConnectionLimits, handler: @escaping ControlServer.Handler, logger: Logger) throws {
        self.listener = listener
        self.limits = limits
        self.handler = handler
        self.logger = logger
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw DaemonError("cannot create the control loop's pipe: \(String(cString: strerror(errno)))") }
        (wakeRead, wakeWrite) = (ends[0], ends[1])
        for descriptor in [listener, wakeRead, wakeWrite] { Self.makeNonBlocking(descriptor) }
    }

    static func makeNonBlocking(_ descriptor: Int32) {
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
    }

    /// Ends the loop; it closes every connection and the listener.
    func stop() {
        postedLock.lock()
        stopping = true
        postedLock.unlock()
        wake()
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    private static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    private static func after(_ seconds: Double) -> UInt64 { now() + UInt64(seconds * 1e9) }

    func run() {
        var descriptors: [pollfd] = []
        var order: [UInt64] = []
        while true {
            postedLock.lock()
            let done = stopping
            postedLock.unlock()
            if done { break }

            descriptors.removeAll(keepingCapacity: true)
            order.removeAll(keepingCapacity: true)
            descriptors.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
            descriptors.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0))
            var earliest = UInt64.max
            for (id, connection) in connections {
                // a client that hung up while its request is with the pool: nothing to poll (poll would
                // report the hang-up again and again) until the answer arrives and the connection closes
                if connection.busy && connection.closing { continue }
                var events: Int16 = 0
                if !connection.busy && !connection.closing { events |= Int16(POLLIN) }
                if connection.sent < connection.output.count { events |= Int16(POLLOUT) }
                descriptors.append(pollfd(fd: connection.descriptor, events: events, revents: 0))
                order.append(id)
                // a connection whose request is being answered waits for the pool, not for its client
                if !connection.busy { earliest = min(earliest, connection.deadline) }
            }
            let current = Self.now()
            let timeout = earliest == .max ? 1000 : Int32(min(1000, earliest > current ? (earliest - current) / 1_000_000 + 1 : 0))
            let ready = poll(&descriptors, nfds_t(descriptors.count), timeout)
            if ready < 0 && errno != EINTR {
                logger.critical("the control socket's poll failed: \(String(cString: strerror(errno))); advctl can no longer reach the daemon")
                break
            }
            if descriptors[0].revents != 0 { drainWakePipe() }
            takePostedAnswers()
            if descriptors[1].revents & Int16(POLLIN) != 0 { acceptClients() }
            for (index, id) in order.enumerated() {
                let revents = descriptors[index + 2].revents
                guard revents != 0, let connection = connections[id] else { continue }
                if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { read(connection) }
                if connections[id] != nil && revents & Int16(POLLOUT) != 0 { flush(connection) }
            }
            closeExpired()
        }
        for connection in connections.values { close(connection.descriptor) }
        connections.removeAll()
        close(listener)
        close(wakeRead)
        close(wakeWrite)
    }

    private func drainWakePipe() {
        var bytes = [UInt8](repeating: 0, count: 256)
        while Glibc.read(wakeRead, &bytes, bytes.count) > 0 {}
    }

    private func takePostedAnswers() {
        postedLock.lock()
        let answers = posted
        posted.removeAll()
        postedLock.unlock()
        for (id, answer, closeAfter) in answers {
            guard let connection = connections[id] else { continue }   // closed meanwhile: the answer is dropped
            connection.busy = false
            connection.closing = connection.closing || closeAfter
            connection.output += answer
            connection.deadline = Self.after(limits.writeSeconds)
            flush(connection)
        }
    }

    private func acceptClients() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE {
                    logger.warning("the control socket is out of file descriptors: \(connections.count) connections open")
                }
                return   // EAGAIN: no more waiting
            }
            Self.makeNonBlocking(client)
            var credentials = PeerCredentials(pid: 0, uid: UInt32.max, gid: UInt32.max)
            var length = socklen_t(MemoryLayout<PeerCredentials>.size)
            guard getsockopt(client, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else {
                close(client)
                continue
            }
            if let refusal = refusal(for: credentials) {
                // best effort: the refusal fits a socket buffer, and the client is not waited for
                if let line = try? Response.failure(.tooManyConnections, refusal).encodedLine() {
                    _ = line.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                }
                close(client)
                continue
            }
            let connection = Connection(id: nextID, descriptor: client, peer: credentials, deadline: Self.after(limits.firstRequestSeconds))
            nextID += 1
            connections[connection.id] = connection
            perUID[credentials.uid, default: 0] += 1
        }
    }

    /// Why a new connection from `peer` is refused, or nil.
    private func refusal(for peer: PeerCredentials) -> String? {
        if connections.count >= limits.maximum {
            return "the daemon has \(limits.maximum) connections open, its limit; try again when some close"
        }
        if perUID[peer.uid, default: 0] >= limits.perUID {
            return "uid \(peer.uid) has \(limits.perUID) connections open to the daemon, the limit per user; close some and try again"
        }
        return nil
    }

    private func read(_ connection: Connection) {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(connection.descriptor, &chunk, chunk.count, 0)
            if count > 0 {
                connection.input += chunk[0..<count]
                if connection.input.count > Wire.maximumRequestBytes + 1 { break }
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            // end of file or an error: answer what is already in flight, then close
            if connection.busy || connection.sent < connection.output.count { connection.closing = true } else { remove(connection) }
            return
        }
        startNextRequest(connection)
    }

    /// Hands the connection's next complete line to the pool, or answers an over-long one.
    private func startNextRequest(_ connection: Connection) {
        guard !connection.busy, !connection.closing else { return }
        guard let end = connection.input.firstIndex(of: 0x0A) else {
            if connection.input.count > Wire.maximumRequestBytes {
                queueLocally(connection, .failure(.badRequest, "request longer than \(Wire.maximumRequestBytes) bytes"), close: true)
            }
            return
        }
        let line = Data(connection.input[..<end])
        connection.input.removeSubrange(...end)
        connection.busy = true
        connection.hasRequested = true
        let id = connection.id, peer = connection.peer, handler = self.handler
        work.async { [weak self] in
            let answer: Response, closeAfter: Bool
            if line.count > Wire.maximumRequestBytes {
                (answer, closeAfter) = (.failure(.badRequest, "request longer than \(Wire.maximumRequestBytes) bytes"), true)
            } else {
                do { (answer, closeAfter) = (handler(try Request.decode(line), peer), false) } catch {
                    answer = .failure(error as? ProtocolError ?? ProtocolError(code: .badRequest, message: "not a valid request: \(error)"))
                    closeAfter = true
                }
            }
            self?.post(id: id, answer: answer, close: closeAfter)
        }
    }

    private func post(id: UInt64, answer: Response, close: Bool) {
        let data: Data
        do { data = try answer.encodedLine() } catch {
            logger.error("an answer could not be encoded: \(error)")
            data = (try? Response.failure(.internal, "internal error in advd: the answer could not be encoded; see the daemon's log").encodedLine())
                ?? Data("{\"ok\":false,\"version\":\(Wire.version)}\n".utf8)
        }
        postedLock.lock()
        posted.append((id, data, close))
        postedLock.unlock()
        wake()
    }

    /// An answer made on the loop thread itself.
    private func queueLocally(_ connection: Connection, _ answer: Response, close: Bool) {
        connection.output += (try? answer.encodedLine()) ?? Data()
        connection.closing = connection.closing || close
        connection.deadline = Self.after(limits.writeSeconds)
        flush(connection)
    }

    /// Writes what the socket takes; a finished answer closes a closing connection, or lets the next
    /// request in.
    private func flush(_ connection: Connection) {
        while connection.sent < connection.output.count {
            let count = connection.output.withUnsafeBytes {
                send(connection.descriptor, $0.baseAddress! + connection.sent, connection.output.count - connection.sent, Int32(MSG_NOSIGNAL))
            }
            if count > 0 { connection.sent += count; continue }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            remove(connection)   // the client is gone
            return
        }
        connection.output.removeAll(keepingCapacity: true)
        connection.sent = 0
        guard !connection.busy else { return }
        if connection.closing { return remove(connection) }
        connection.deadline = Self.after(limits.idleSeconds)
        startNextRequest(connection)
    }

    private func closeExpired() {
        let current = Self.now()
        for connection in connections.values where !connection.busy && connection.deadline <= current {
            if !connection.hasRequested {
                logger.debug("closed a connection from uid \(connection.peer.uid) that sent no request within \(limits.firstRequestSeconds) s")
            }
            remove(connection)
        }
    }

    private func remove(_ connection: Connection) {
        guard connections.removeValue(forKey: connection.id) != nil else { return }
        close(connection.descriptor)
        perUID[connection.peer.uid, default: 1] -= 1
        if perUID[connection.peer.uid] == 0 { perUID[connection.peer.uid] = nil }
    }
}
