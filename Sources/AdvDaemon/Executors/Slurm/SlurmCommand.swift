import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs one Slurm command (`sbatch`, `squeue`, `scancel`, `sinfo`) with a deadline and captures what it
/// printed. Spawned and reaped by pid here rather than through Foundation's `Process`, like the jobs'
/// own processes, so that nothing in the daemon reaps a child that is not its own.
struct SlurmCommand {
    /// Variables added to the daemon's environment (`SLURM_CONF`).
    var environment: [String: String] = [:]
    /// Seconds before a command that hangs (a controller that does not answer) is killed.
    var timeoutSeconds: Double = 60

    struct Output: Sendable {
        let status: WaitStatus
        let stdout: String
        let stderr: String
        var succeeded: Bool { status == .exited(0) }
        /// The first lines of what went wrong, for a message.
        var problem: String {
            let text = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            let shown = text.isEmpty ? stdout.trimmingCharacters(in: .whitespacesAndNewlines) : text
            let status: String
            switch self.status {
            case .exited(let code): status = "exit status \(code)"
            case .signaled(let signal): status = "killed by signal \(signal)"
            }
            return (shown.isEmpty ? status : "\(shown.split(separator: "\n").prefix(3).joined(separator: " / ")) (\(status))")
        }
    }

    /// An error running the command at all (missing, or it hung past the deadline).
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs `tool arguments…`, found in PATH, with `input` on its stdin.
    func run(_ tool: String, _ arguments: [String], input: String = "") throws -> Output {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("advd-slurm-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // files rather than pipes: no reader thread, and a chatty command never blocks on a full pipe
        let paths = (input: folder + "/stdin", stdout: folder + "/stdout", stderr: folder + "/stderr")
        try Data(input.utf8).write(to: URL(fileURLWithPath: paths.input))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, paths.input, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, paths.stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, paths.stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let spawn = ChildSpawnAttributes()

        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let environ = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let argv = ([tool] + arguments).map { strdup($0) } + [nil]
        defer { (environ + argv).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, tool, &actions, &spawn.attributes, argv, environ)
        guard spawned == 0 else {
            throw Failure(description: "cannot run \(tool): \(String(cString: strerror(spawned))) (is Slurm's client installed and in PATH?)")
        }
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { throw Failure(description: "\(tool): cannot wait for it: \(String(cString: strerror(errno)))") }
            if Date() >= deadline {
                Glibc.kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                throw Failure(description: "\(tool) did not answer within \(Int(timeoutSeconds)) s (is slurmctld reachable?)")
            }
            usleep(20_000)
        }
        func read(_ path: String) -> String {
            String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
        }
        return Output(status: WaitStatus(status), stdout: read(paths.stdout), stderr: read(paths.stderr))
    }
}
