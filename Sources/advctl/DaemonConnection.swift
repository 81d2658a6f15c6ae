import AdvProtocol
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One request and its response over the daemon's Unix socket.
struct DaemonConnection {
    let socketPath: String

    /// The socket from `--socket`, else `ADVD_SOCKET`, else the default.
    init(option: String?) {
        socketPath = option ?? ProcessInfo.processInfo.environment["ADVD_SOCKET"] ?? Wire.defaultSocketPath
    }

    /// Sends `request` and returns the daemon's response.
    /// - Throws: `ClientFailure` when the daemon is unreachable or answers with an error.
    func send(_ request: Request) throws -> Response {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ClientFailure.unreachable("cannot create a socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard let address = UnixSocketAddress(path: socketPath) else {
            throw ClientFailure.unreachable("\(socketPath): socket path too long")
        }
        guard address.connect(descriptor) == 0 else {
            let reason = errno
            switch reason {
            case EACCES, EPERM:
                throw ClientFailure.permission("\(socketPath): permission denied; advctl needs to run as a member of group advd (or root)")
            case ENOENT, ECONNREFUSED:
                throw ClientFailure.unreachable("\(socketPath): the advd daemon is not running (start it with `systemctl start advd` or `advd serve`), or set --socket / ADVD_SOCKET")
            default:
                throw ClientFailure.unreachable("\(socketPath): cannot connect: \(String(cString: strerror(reason)))")
            }
        }
        let line: Data
        do { line = try request.encodedLine() } catch {
            throw ClientFailure.refused(ProtocolError(code: .badRequest, message: "cannot encode the request: \(error)"))
        }
        try line.withUnsafeBytes { buffer in
            guard let start = buffer.baseAddress else { return }   // an encoded line is never empty
            var sent = 0
            while sent < buffer.count {
                let count = write(descriptor, start + sent, buffer.count - sent)
                guard count > 0 else { throw ClientFailure.unreachable("\(socketPath): the daemon closed the connection") }
                sent += count
            }
        }
        var received = Data()
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while !received.contains(0x0A) {
            let count = read(descriptor, &chunk, chunk.count)
            guard count > 0 else { break }
            received.append(contentsOf: chunk[0..<count])
        }
        guard let end = received.firstIndex(of: 0x0A) else {
            throw ClientFailure.unreachable("\(socketPath): the daemon closed the connection without answering")
        }
        let response: Response
        do { response = try Response.decode(Data(received[..<end])) } catch {
            throw ClientFailure.refused(error as? ProtocolError ?? ProtocolError(code: .badResponse, message: "\(error)"))
        }
        if case let .failure(error) = response { throw ClientFailure.refused(error) }
        return response
    }
}

/// Why advctl could not do what it was asked; each case has its own exit status.
enum ClientFailure: Error, CustomStringConvertible {
    case unreachable(String)
    case permission(String)
    case refused(ProtocolError)

    var description: String {
        switch self {
        case let .unreachable(message), let .permission(message): return message
        case let .refused(error): return error.message
        }
    }

    /// 1: the daemon refused the request; 3: not running; 4: permission denied; 5: no such job.
    var exitCode: ExitCode {
        switch self {
        case .unreachable: return ExitCode(3)
        case .permission: return ExitCode(4)
        case let .refused(error):
            switch error.code {
            case .permissionDenied: return ExitCode(4)
            case .notFound: return ExitCode(5)
            default: return ExitCode(1)
            }
        }
    }
}
