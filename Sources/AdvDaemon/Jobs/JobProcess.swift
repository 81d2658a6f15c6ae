import AdvProtocol
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One job's child process, `advd run --supervised`. Jobs run as processes rather than threads of the
/// daemon: a job that runs out of memory or crashes takes only itself down, each job sets its own
/// compute threads, and the daemon's threads never do numerical work, so the socket stays responsive.
///
/// The child's stdin is a pipe whose write end only the daemon holds (every descriptor is opened
/// close-on-exec, so no other child inherits it): when the daemon dies, even by SIGKILL, the child
/// reads end of file and exits, and the restarted daemon resumes the job from its checkpoints.
///
/// The child's stdout is read by a thread of its own, blocked in read(2) — not by a Dispatch read
/// source: tearing down a read source on a pipe whose writer exited can crash libdispatch's epoll
/// loop on Linux (a dangling muxnote; seen here as a SIGSEGV in _dispatch_event_loop_drain).
final class JobProcess: @unchecked Sendable {
    let pid: pid_t
    private let stdinWrite: Int32
    private let stdoutRead: Int32

    /// Starts `executable arguments…` with stdout read as `JobEventLine`s and stderr appended to
    /// `logPath`. `onEvent` (an event, or why a line could not be read) and `onExit` (with the wait
    /// status) run on `queue`.
    static func launch(executable: String, arguments: [String], logPath: String, queue: DispatchQueue,
                       onEvent: @escaping @Sendable (Result<JobEvent, JobEventError>) -> Void,
                       onExit: @escaping @Sendable (Int32) -> Void) throws -> JobProcess {
        var input: [Int32] = [0, 0], output: [Int32] = [0, 0]
        // only the scheduler's serial queue spawns job processes (and the Slurm executor, which spawns
        // Slurm's commands on a queue of its own, never runs beside local jobs), so marking
        // close-on-exec right after pipe() races with no other spawn (Glibc's module has no pipe2)
        guard pipe(&input) == 0, pipe(&output) == 0 else {
            throw DaemonError("cannot create pipes for a job: \(String(cString: strerror(errno)))")
        }
        for descriptor in input + output { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard log >= 0 else {
            [input[0], input[1], output[0], output[1]].forEach { close($0) }
            throw DaemonError("\(logPath): cannot open the job log: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], STDIN_FILENO)
        posix_spawn_file_actions_adddup2(&actions, output[1], STDOUT_FILENO)
        posix_spawn_file_actions_adddup2(&actions, log, STDERR_FILENO)
        let spawn = ChildSpawnAttributes()

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &spawn.attributes, argv, environ)
        close(input[0])
        close(output[1])
        close(log)
        guard spawned == 0 else {
            close(input[1])
            close(output[0])
            throw DaemonError("cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        let process = JobProcess(pid: pid, stdinWrite: input[1], stdoutRead: output[0])
        process.watch(queue: queue, onEvent: onEvent, onExit: onExit)
        return process
    }

    private init(pid: pid_t, stdinWrite: Int32, stdoutRead: Int32) {
        self.pid = pid
        self.stdinWrite = stdinWrite
        self.stdoutRead = stdoutRead
    }

    /// Asks the job to stop after its current step (it saves its progress first).
    func terminate() { kill(pid, SIGTERM) }
    /// Stops it now; it resumes from its last checkpoint.
    func forceKill() { kill(pid, SIGKILL) }

    /// Reads the child's events until its stdout closes (it exited), then reaps it.
    private func watch(queue: DispatchQueue, onEvent: @escaping @Sendable (Result<JobEvent, JobEventError>) -> Void,
                       onExit: @escaping @Sendable (Int32) -> Void) {
        let thread = Thread { [pid, stdoutRead, stdinWrite] in
            var pending = Data()
            var buffer = [UInt8](repeating: 0, count: 16_384)
            while true {
                let count = read(stdoutRead, &buffer, buffer.count)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                pending.append(contentsOf: buffer[0..<count])
                while let end = pending.firstIndex(of: 0x0A) {
                    let line = Data(pending[pending.startIndex..<end])
                    pending.removeSubrange(pending.startIndex...end)
                    let event = Result { try JobEventLine.decode(line).event }.mapError { $0 as? JobEventError ?? JobEventError("\($0)") }
                    queue.async { onEvent(event) }
                }
            }
            close(stdoutRead)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            close(stdinWrite)
            let exitStatus = status
            queue.async { onExit(exitStatus) }
        }
        thread.name = "advd.job.\(pid)"
        thread.start()
    }
}

/// Decoding of a `waitpid` status.
public enum WaitStatus: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)

    public init(_ status: Int32) {
        if status & 0x7f == 0 { self = .exited((status >> 8) & 0xff) } else { self = .signaled(status & 0x7f) }
    }
}
