import AdvProtocol
import AdvTestSupport
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A real `advd serve` in a temporary root — its own state folder, spool, socket, and a NOTIFY_SOCKET
/// the test reads — plus `advctl` pointed at it.
final class DaemonHarness {
    let folder = TemporaryFolder(prefix: "advd-serve-")
    var root: String { folder.path }
    var spool: String { root + "/spool" }
    var socketPath: String { root + "/run/advd.sock" }
    var stateFolder: String { root + "/state" }
    private(set) var process: Process?
    private var notifyDescriptor: Int32 = -1
    /// Every notification received so far, and when it arrived.
    private(set) var notifications: [String] = []
    private(set) var notificationTimes: [Date] = []
    /// Variables added to the daemon's environment (WATCHDOG_USEC, …).
    var extraEnvironment: [String: String] = [:]

    static let advctlPath = URL(fileURLWithPath: AdvdProcess.path).deletingLastPathComponent().appendingPathComponent("advctl").path

    init() throws {
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        try "# defaults\n".write(toFile: root + "/advd.yaml", atomically: true, encoding: .utf8)
        notifyDescriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let bound = UnixSocketAddress(path: root + "/notify.sock")?.bind(notifyDescriptor)
        precondition(bound == 0, "cannot bind the notify socket")
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(notifyDescriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        close(notifyDescriptor)
    }

    /// The group given the control socket (it must exist: the daemon refuses a missing one).
    var socketGroup = "root"

    /// The folder jobs may read (`--dataset-root`; default: the harness's root), and others besides it.
    var datasetRoot: String?
    var extraDatasetRoots: [String] = []

    /// Workers and threads as flags (nil: from the configuration file).
    var workerFlags: [String]? = ["--workers", "2", "--threads-per-job", "1"]

    /// Starts the daemon (two workers of one thread each, unless `workerFlags` says otherwise).
    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: AdvdProcess.path)
        process.arguments = ["serve", "--config", root + "/advd.yaml", "--state-folder", stateFolder, "--spool", spool,
                             "--socket", socketPath, "--socket-group", socketGroup, "--dataset-root", datasetRoot ?? root]
            + extraDatasetRoots.flatMap { ["--dataset-root", $0] } + (workerFlags ?? [])
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = root + "/notify.sock"
        // the journal only when a test asks for it (JOURNAL_STREAM in extraEnvironment)
        environment.removeValue(forKey: "JOURNAL_STREAM")
        environment.merge(extraEnvironment) { $1 }
        process.environment = environment
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        self.process = process
    }

    /// Waits for a notification containing `text`.
    @discardableResult
    func waitForNotification(_ text: String, seconds: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if notifications.contains(where: { $0.contains(text) }) { return true }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(notifyDescriptor, &buffer, buffer.count, 0)
            if count > 0 {
                notifications.append(String(decoding: buffer[0..<count], as: UTF8.self))
                notificationTimes.append(Date())
            }
        }
        return notifications.contains { $0.contains(text) }
    }

    /// Sends `signal` and waits for the daemon to exit; returns its exit status.
    @discardableResult
    func stop(_ signal: Int32) -> Int32 {
        guard let process else { return -1 }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        self.process = nil
        return process.terminationStatus
    }

    /// Runs advctl against this daemon, as another user and group when `as` is given (through setpriv).
    func advctl(_ arguments: [String], as identity: (uid: UInt32, gid: UInt32)? = nil) throws -> (status: Int32, output: String) {
        let environment = ["ADVD_SOCKET": socketPath]
        guard let identity else { return try AdvdProcess.run(executable: Self.advctlPath, arguments: arguments, environment: environment) }
        return try AdvdProcess.run(executable: "/usr/bin/setpriv",
                                   arguments: ["--reuid=\(identity.uid)", "--regid=\(identity.gid)", "--clear-groups", Self.advctlPath] + arguments,
                                   environment: environment)
    }

    /// A job's fields from `advctl show --json`.
    func job(_ id: Int) throws -> [String: Any] {
        let shown = try advctl(["show", String(id), "--json"])
        return (try? JSONSerialization.jsonObject(with: Data(shown.output.utf8)) as? [String: Any]) ?? [:]
    }

    /// Waits until job `id` is in one of `states`.
    func waitForJob(_ id: Int, in states: Set<String>, seconds: Double = 120) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let job = try job(id)
            if let state = job["state"] as? String, states.contains(state) { return job }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return try job(id)
    }

    /// Writes `text` elsewhere and renames it into the spool.
    func drop(_ text: String, as name: String) throws {
        let staging = root + "/" + name + ".staging"
        try text.write(toFile: staging, atomically: false, encoding: .utf8)
        try FileManager.default.moveItem(atPath: staging, toPath: spool + "/" + name)
    }
}

/// The uninterrupted reference for a job that gets interrupted: the same manifest through `advd run` in
/// the foreground on one thread, as the jobs compute; returns its output folder.
func uninterruptedRun(_ manifest: String, in folder: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let path = folder + "/reference.yaml", out = folder + "/reference"
    try manifest.write(toFile: path, atomically: true, encoding: .utf8)
    let run = try AdvdProcess.run(["run", path, "--out", out, "--threads", "1"])
    XCTAssertEqual(run.status, 0, run.output, file: file, line: line)
    return out
}

/// Waits until the job whose folder is `jobFolder` has checkpointed beyond training step 80 (in the
/// middle of the long manifests' first epochs); false after two minutes without.
func waitForTrainingCheckpoint(in jobFolder: String) -> Bool {
    let deadline = Date().addingTimeInterval(120)
    while Date() < deadline {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: jobFolder + "/checkpoints")) ?? []
        if names.contains(where: { $0.hasPrefix("step-") && $0 >= "step-00000080" }) { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return false
}

/// metrics.json without wall-clock fields, which legitimately differ between runs.
func timelessMetrics(_ path: String) -> NSDictionary? {
    guard let data = FileManager.default.contents(atPath: path),
          let object = try? JSONSerialization.jsonObject(with: data) else { return nil }
    func strip(_ value: Any) -> Any {
        if let dictionary = value as? [String: Any] {
            var copy: [String: Any] = [:]
            for (key, item) in dictionary where !["timings", "seconds", "samplesPerSecond"].contains(key) { copy[key] = strip(item) }
            return copy
        }
        if let array = value as? [Any] { return array.map(strip) }
        return value
    }
    return strip(object) as? NSDictionary
}
