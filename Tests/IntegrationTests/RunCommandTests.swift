import AdvNN
import AdvVersion
import AdvTestSupport
import Foundation
import XCTest

/// `advd run MANIFEST` as a user runs it.
final class RunCommandTests: XCTestCase {
    private var folder: TemporaryFolder!
    private var root: String { folder.path }

    override func setUpWithError() throws {
        try XCTSkipUnless(AdvdProcess.isBuilt, "needs the advd executable at \(AdvdProcess.path)")
        folder = TemporaryFolder(prefix: "advd-run-cli-")
    }

    private func advd(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try AdvdProcess.run(arguments)
    }

    func testRunWritesResultsAndReportsWarnings() throws {
        let manifest = root + "/toy.yaml"
        try """
            dataset: {name: tsipras, dimensions: 40, p: 0.9, eta: 0.3, train_examples: 512, test_examples: 128}
            model: {architecture: linear}
            train: {epochs: 2, batch_size: 64}
            threat_model: {norm: linf, epsilon: 0.6}
            evaluation:
              attacks: [{name: pgd, steps: 10}, {name: fgsm}]
            """.write(toFile: manifest, atomically: true, encoding: .utf8)
        let run = try advd(["run", manifest, "--out", root + "/out", "--threads", "2"])
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(run.output.contains("threat model: L∞ ε = 0.6, unbounded inputs"), run.output)
        XCTAssertTrue(run.output.contains("worst case"), run.output)
        for file in ["metrics.json", "report.md", "model.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/out/" + file), file)
        }
        // counts read as a sentence would: "1 thread", not "1 threads"
        let single = try advd(["run", manifest, "--out", root + "/single", "--threads", "1"])
        XCTAssertTrue(single.output.contains("(1 thread)") && !single.output.contains("1 threads"), single.output)
        // the run says what it computes on, and metrics.json records it
        XCTAssertTrue(run.output.contains("machine: ") && run.output.contains("; kernel "), run.output)
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/out/metrics.json"))) as? [String: Any]
        let machine = metrics?["machine"] as? [String: Any]
        XCTAssertNotNil(machine?["kernel"] as? String)
        XCTAssertEqual(machine?["threads"] as? Int, 2)
    }

    /// The progress line: in a pipe, plain lines and no carriage return; on a terminal (a pseudo-terminal
    /// from `script`) redrawn in place and never wider than the terminal's 40 columns.
    func testProgressFitsWhereItIsWritten() throws {
        let manifest = root + "/progress.yaml"
        try """
            dataset: {name: blobs, classes: 3, dimensions: 16, train_examples: 3000, test_examples: 200}
            model: {architecture: mlp, hidden: [32]}
            train: {epochs: 2, batch_size: 20}
            threat_model: {norm: linf, epsilon: 0.3}
            evaluation: {batch_size: 10, attacks: [{name: pgd, steps: 3}], sanity_checks: false}
            """.write(toFile: manifest, atomically: true, encoding: .utf8)
        let piped = try advd(["run", manifest, "--out", root + "/piped"])
        XCTAssertEqual(piped.status, 0, piped.output)
        XCTAssertFalse(piped.output.contains("\r"), "a pipe got carriage returns")
        XCTAssertTrue(piped.output.contains("epoch 1/2 step 50/"), piped.output)
        XCTAssertTrue(piped.output.contains("batch 10/"), piped.output)

        let command = "stty cols 40 rows 20; \(AdvdProcess.path) run \(manifest) --out \(root)/terminal"
        let terminal = try AdvdProcess.run(executable: "/usr/bin/script", arguments: ["-q", "-e", "-c", command, "/dev/null"])
        XCTAssertEqual(terminal.status, 0, terminal.output)
        XCTAssertTrue(terminal.output.contains("\r"), "no redraw on a terminal: \(terminal.output.prefix(500))")
        let segments = terminal.output.replacingOccurrences(of: "\u{1B}[K", with: "")
            .split(whereSeparator: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" })
        let progress = segments.filter { $0.hasPrefix("epoch ") && $0.contains(" step ") || $0.contains(": batch ") }
        XCTAssertFalse(progress.isEmpty, terminal.output)
        for segment in progress { XCTAssertLessThanOrEqual(segment.count, 40, String(segment)) }
    }

    /// A kernel advd chose (as its re-execution sets it, with OpenBLAS's own choice as the fallback) is
    /// checked against the naive GEMM before it is trusted, and the run says so; a pinned one is kept.
    func testTheKernelIsCheckedAndRecorded() throws {
        try XCTSkipUnless(CPUFeatures.current.hasAVX2FMA, "the Haswell kernel needs AVX2 and FMA")
        let manifest = root + "/toy.yaml"
        try """
            dataset: {name: blobs, classes: 3, dimensions: 8, train_examples: 128, test_examples: 32}
            model: {architecture: linear}
            train: {epochs: 1, batch_size: 32}
            threat_model: {norm: linf, epsilon: 0.5}
            evaluation: {attacks: [{name: fgsm}], sanity_checks: false}
            """.write(toFile: manifest, atomically: true, encoding: .utf8)
        let chosen = try AdvdProcess.run(executable: AdvdProcess.path, arguments: ["run", manifest, "--out", root + "/chosen"],
                                         environment: ["OPENBLAS_CORETYPE": "Haswell", "ADVD_KERNEL_FALLBACK": "Prescott"])
        XCTAssertEqual(chosen.status, 0, chosen.output)
        XCTAssertTrue(chosen.output.contains("kernel Haswell: chosen by advd for this CPU's features instead of OpenBLAS's Prescott, checked against the naive GEMM"),
                      chosen.output)
        let pinned = try AdvdProcess.run(executable: AdvdProcess.path, arguments: ["run", manifest, "--out", root + "/pinned"],
                                         environment: ["OPENBLAS_CORETYPE": "Haswell"])
        XCTAssertTrue(pinned.output.contains("kernel Haswell: OPENBLAS_CORETYPE=Haswell is set in the environment"), pinned.output)
        let report = try String(contentsOfFile: root + "/pinned/report.md", encoding: .utf8)
        XCTAssertTrue(report.contains("kernel Haswell: OPENBLAS_CORETYPE=Haswell is set in the environment"), report)
    }

    /// A daemon's job whose log cannot be written (its state folder's disk is full: here stderr is
    /// /dev/full, where every write fails with ENOSPC) loses the lines, not the run: it finishes and
    /// tells the daemon so. A Slurm job whose events file cannot be written ends by itself too, never
    /// by a trap (which the daemon would count as a crash and run again).
    func testAJobWhoseLogCannotBeWrittenStillFinishes() throws {
        let manifest = root + "/tiny.yaml"
        try """
            dataset: {name: blobs, classes: 3, dimensions: 8, train_examples: 128, test_examples: 32}
            model: {architecture: mlp, hidden: [8]}
            train: {epochs: 2, batch_size: 32}
            threat_model: {norm: linf, epsilon: 0.5}
            evaluation: {attacks: [{name: fgsm}], sanity_checks: false}
            """.write(toFile: manifest, atomically: true, encoding: .utf8)
        let full = try XCTUnwrap(FileHandle(forWritingAtPath: "/dev/full"))

        let logLost = try supervised([manifest, "--out", root + "/log-lost"], standardError: full)
        XCTAssertEqual(logLost.reason, .exit, "the job died of signal \(logLost.status)")
        XCTAssertEqual(logLost.status, 0)
        XCTAssertTrue(logLost.events.contains("\"finished\""), logLost.events)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/log-lost/metrics.json"))

        let eventsLost = try supervised([manifest, "--out", root + "/events-lost", "--events-file", "/dev/full"],
                                        standardError: FileHandle.nullDevice)
        XCTAssertEqual(eventsLost.reason, .exit, "the job died of signal \(eventsLost.status)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/events-lost/metrics.json"))
    }

    /// Runs `advd run ARGUMENTS --supervised` as the daemon starts a job: stdin a pipe held open (its
    /// end of file would tell the job that the daemon is gone), stdout read as event lines.
    private func supervised(_ arguments: [String], standardError: FileHandle)
        throws -> (reason: Process.TerminationReason, status: Int32, events: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: AdvdProcess.path)
        process.arguments = ["run"] + arguments + ["--threads", "1", "--supervised"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = standardError
        try process.run()
        let events = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try input.fileHandleForWriting.close()
        return (process.terminationReason, process.terminationStatus, String(decoding: events, as: UTF8.self))
    }

    func testBadManifestNamesKeyAndLine() throws {
        let manifest = root + "/bad.yaml"
        try """
            dataset: {name: fashion-mnist}
            model: {architecture: mlp}
            train:
              epochs: ten
            threat_model: {norm: linf, epsilon: 0.1}
            evaluation: {attacks: [{name: pgd}]}
            """.write(toFile: manifest, atomically: true, encoding: .utf8)
        let run = try advd(["run", manifest, "--out", root + "/out"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.output.contains("bad.yaml: train.epochs: expected an integer in [1, 100000], got \"ten\" (line 4)"), run.output)
        let missing = try advd(["run", root + "/nowhere.yaml"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.output.contains("nowhere.yaml: cannot read the file"), missing.output)
    }

    /// An unknown subcommand is an error whatever follows it: `--help` after it does not turn it into
    /// the top-level help and a success.
    func testAnUnknownSubcommandIsAnErrorEvenWithHelp() throws {
        let advctl = URL(fileURLWithPath: AdvdProcess.path).deletingLastPathComponent().appendingPathComponent("advctl").path
        for (program, name) in [(AdvdProcess.path, "advd"), (advctl, "advctl")] {
            for arguments in [["nosuch"], ["nosuch", "--help"], ["nosuch", "-h"]] {
                let result = try AdvdProcess.run(executable: program, arguments: arguments)
                XCTAssertEqual(result.status, 64, "\(name) \(arguments): \(result.output)")
                XCTAssertTrue(result.output.contains("Unexpected argument 'nosuch'"), "\(name) \(arguments): \(result.output)")
            }
            XCTAssertEqual(try AdvdProcess.run(executable: program, arguments: ["--help"]).status, 0, name)
            let version = try AdvdProcess.run(executable: program, arguments: ["--version"])
            XCTAssertEqual(version.status, 0, name)
            XCTAssertEqual(version.output, AdvdVersion.current + "\n", name)
        }
    }

    /// `advd check-config` fails a configuration that cannot work here, naming each setting.
    func testCheckConfigCatchesBrokenSetups() throws {
        let config = root + "/advd.yaml"
        try "# defaults, overridden by the flags\n".write(toFile: config, atomically: true, encoding: .utf8)
        let broken = try advd(["check-config", "--config", config, "--socket-group", "nosuchgroup", "--dataset-root", "/nope",
                               "--state-folder", root + "/missing/state", "--spool", root + "/spool"])
        XCTAssertEqual(broken.status, 1, broken.output)
        XCTAssertTrue(broken.output.contains("valid as a file, but on this machine"), broken.output)
        XCTAssertTrue(broken.output.contains("socket_group: the group \"nosuchgroup\" does not exist"), broken.output)
        XCTAssertTrue(broken.output.contains("dataset_roots: /nope: does not exist"), broken.output)
        XCTAssertTrue(broken.output.contains("state_folder: \(root)/missing/state: does not exist, nor does its parent"), broken.output)
        let good = try advd(["check-config", "--config", config, "--socket-group", "root", "--dataset-root", root,
                             "--state-folder", root + "/state", "--spool", root + "/spool"])
        XCTAssertEqual(good.status, 0, good.output)
        XCTAssertTrue(good.output.contains("— valid"), good.output)
    }
}
