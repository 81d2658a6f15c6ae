import AdvDaemon
import AdvProtocol
import AdvTestSupport
import Foundation
import Logging
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The control socket's event loop against idle, slow and greedy clients: none of them keeps it from
/// answering the others, deadlines close silent connections, and the caps refuse with a reason.
@Suite struct ControlServerTests {
    /// A server whose every answer is job 7 submitted, on a socket in `folder`.
    static func server(in folder: TemporaryFolder, limits: ConnectionLimits) throws -> (ControlServer, String) {
        let path = folder.file("control.sock")
        let server = ControlServer(path: path, group: nil, limits: limits,
                                   logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })) { _, _ in .submitted([SubmittedManifest(manifestName: "a.yaml", ids: [7])]) }
        try server.start()
        return (server, path)
    }

    /// A connected client socket with a receive timeout, so that a test fails instead of hanging.
    static func connect(_ path: String, timeout seconds: Int = 10) throws -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard let address = UnixSocketAddress(path: path), address.connect(descriptor) == 0 else {
            throw TestFailure("cannot connect to \(path): \(String(cString: strerror(errno)))")
        }
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return descriptor
    }

    static func send(_ text: String, to descriptor: Int32) {
        _ = text.withCString { Glibc.send(descriptor, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    /// Everything the server sends until it closes the connection or `lines` lines have come.
    static func receive(_ descriptor: Int32, lines: Int = 1) -> String {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while received.filter({ $0 == 0x0A }).count < lines {
            let count = recv(descriptor, &chunk, chunk.count, 0)
            guard count > 0 else { break }
            received += chunk[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    static let statusLine = "{\"version\": \(Wire.version), \"command\": \"status\"}\n"

    @Test func hundredsOfIdleConnectionsAndGarbageDoNotStopTheAnswers() throws {
        let folder = TemporaryFolder()
        var limits = ConnectionLimits()
        limits.perUID = 2000
        let (server, path) = try Self.server(in: folder, limits: limits)
        defer { server.stop() }
        // 500 clients that connect and say nothing; with a thread per connection each would hold one
        let idle = try (0..<500).map { _ in try Self.connect(path) }
        defer { for descriptor in idle { close(descriptor) } }
        for round in 0..<100 {
            // a malformed frame, then a real request: the first is refused and closed, the second answered
            let garbage = try Self.connect(path)
            Self.send("\u{1}\u{2}not json at all \(round)\n", to: garbage)
            #expect(Self.receive(garbage).contains("\"bad-request\""))
            close(garbage)
            let client = try Self.connect(path)
            Self.send(Self.statusLine, to: client)
            let answer = Self.receive(client)
            close(client)
            #expect(answer.contains("\"submitted\""), "round \(round): \(answer)")
        }
    }

    @Test func requestsOnOneConnectionAreAnsweredInOrderAndOverlongOnesRefused() throws {
        let folder = TemporaryFolder()
        let (server, path) = try Self.server(in: folder, limits: ConnectionLimits())
        defer { server.stop() }
        let client = try Self.connect(path)
        defer { close(client) }
        Self.send(Self.statusLine + Self.statusLine + Self.statusLine, to: client)   // three in one write
        #expect(Self.receive(client, lines: 3).split(separator: "\n").count == 3)
        let long = try Self.connect(path)
        defer { close(long) }
        Self.send(String(repeating: "x", count: Wire.maximumRequestBytes + 10), to: long)
        #expect(Self.receive(long).contains("request longer than"))
    }

    @Test func aSilentConnectionIsClosedAtItsDeadline() throws {
        let folder = TemporaryFolder()
        var limits = ConnectionLimits()
        limits.firstRequestSeconds = 0.3
        limits.idleSeconds = 0.6
        let (server, path) = try Self.server(in: folder, limits: limits)
        defer { server.stop() }
        let silent = try Self.connect(path, timeout: 5)
        defer { close(silent) }
        var byte: UInt8 = 0
        let started = Date()
        #expect(recv(silent, &byte, 1, 0) == 0, "the server should close a connection that sends nothing")
        #expect(Date().timeIntervalSince(started) < 4)
        // one that asked once may then stay silent for the idle deadline, and is closed after it
        let asked = try Self.connect(path, timeout: 5)
        defer { close(asked) }
        Self.send(Self.statusLine, to: asked)
        #expect(Self.receive(asked).contains("\"submitted\""))
        #expect(recv(asked, &byte, 1, 0) == 0)
    }

    @Test func connectionsOverTheCapsAreRefusedWithTheReason() throws {
        let folder = TemporaryFolder()
        var limits = ConnectionLimits()
        limits.perUID = 4
        let (server, path) = try Self.server(in: folder, limits: limits)
        defer { server.stop() }
        var open = try (0..<4).map { _ in try Self.connect(path) }
        // make sure the four are accepted before the fifth arrives
        for descriptor in open {
            Self.send(Self.statusLine, to: descriptor)
            #expect(Self.receive(descriptor).contains("\"submitted\""))
        }
        let fifth = try Self.connect(path)
        let refusal = Self.receive(fifth)
        close(fifth)
        #expect(refusal.contains("\"too-many-connections\"") && refusal.contains("uid \(getuid()) has 4 connections open"), "\(refusal)")
        close(open.removeLast())
        Thread.sleep(forTimeInterval: 0.2)
        let again = try Self.connect(path)
        Self.send(Self.statusLine, to: again)
        #expect(Self.receive(again).contains("\"submitted\""))
        close(again)
        for descriptor in open { close(descriptor) }
    }
}
