import AdvProtocol
import AdvTestSupport
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The journal handler against a real `systemd-journald`: with JOURNAL_STREAM set (as systemd sets it
/// for a service) the daemon logs structured entries, and `journalctl` finds one job's story by its
/// JOB_ID with the fields the README promises.
final class JournalTests: XCTestCase {
    static let socket = "/run/systemd/journal/socket"

    /// Whether a journald answers on the socket (a file left by one that stopped does not).
    static var journaldAnswers: Bool {
        let probe = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(probe) }
        return UnixSocketAddress(path: socket)?.connect(probe) == 0
    }

    /// A journald for the test: the machine's own if one is running, else one started here.
    static func journald() throws -> Process? {
        if journaldAnswers { return nil }
        let journald = Process()
        journald.executableURL = URL(fileURLWithPath: "/lib/systemd/systemd-journald")
        journald.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try journald.run()
        for _ in 0..<50 where !journaldAnswers { Thread.sleep(forTimeInterval: 0.1) }
        return journald
    }

    func testTheDaemonLogsStructuredEntriesToTheJournal() throws {
        try XCTSkipUnless(getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd-journald"),
                          "needs root and systemd-journald")
        let journald = try Self.journald()
        defer { journald?.terminate() }
        XCTAssertTrue(Self.journaldAnswers, "journald did not come up")

        let daemon = try DaemonHarness()
        daemon.extraEnvironment = ["JOURNAL_STREAM": "0:0"]
        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"))
        try daemon.drop(ServeTests.tinyManifest, as: "tiny.yaml")
        XCTAssertEqual(try daemon.waitForJob(1, in: ["succeeded", "failed"])["state"] as? String, "succeeded")
        let pid = daemon.process!.processIdentifier
        XCTAssertEqual(daemon.stop(SIGTERM), 0)

        var entries: [[String: Any]] = []
        for _ in 0..<30 {
            let query = try AdvdProcess.run(executable: "/bin/journalctl",
                                            arguments: ["--no-pager", "-o", "json", "_PID=\(pid)", "JOB_ID=1"])
            entries = query.output.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            if entries.contains(where: { ($0["MESSAGE"] as? String)?.hasPrefix("job succeeded") == true }) { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let messages = entries.compactMap { $0["MESSAGE"] as? String }
        XCTAssertTrue(messages.contains { $0.hasPrefix("job queued from the spool") }, "\(messages)")
        XCTAssertTrue(messages.contains { $0 == "job started" }, "\(messages)")
        let started = try XCTUnwrap(entries.first { ($0["MESSAGE"] as? String) == "job started" })
        XCTAssertEqual(started["SYSLOG_IDENTIFIER"] as? String, "advd")
        XCTAssertEqual(started["PRIORITY"] as? String, "6")   // info
        XCTAssertEqual(started["JOB_STATE"] as? String, "running")
        XCTAssertEqual(started["ATTEMPT"] as? String, "1")
        XCTAssertTrue((started["CODE_FILE"] as? String ?? "").hasSuffix("Scheduler.swift"), "\(started)")
        let succeeded = try XCTUnwrap(entries.first { ($0["MESSAGE"] as? String)?.hasPrefix("job succeeded") == true })
        XCTAssertEqual(succeeded["JOB_STATE"] as? String, "succeeded")
    }
}
