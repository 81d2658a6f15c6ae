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
        }
    }
}
