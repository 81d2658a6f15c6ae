import Foundation
import XCTest

/// `advd train` as a user runs it: separate processes, interrupted and resumed, compared byte for byte.
/// (XCTest rather than Swift Testing: these tests drive whole processes, one after another.)
final class TrainCommandTests: XCTestCase {
    /// The `advd` executable built beside this test binary (`swift test` builds every product).
    static let advd = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("advd").path

    static let job = ["train", "--dataset", "blobs", "--model", "mlp", "--hidden", "16", "--epochs", "2",
                      "--batch-size", "64", "--seed", "5", "--threads", "2"]

    private var root = ""

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: Self.advd), "needs the advd executable at \(Self.advd)")
        root = NSTemporaryDirectory() + "advd-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Runs advd with `arguments`; returns its exit status and everything it printed.
    private func advd(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.advd)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    func testInterruptedRunResumedInANewProcessEndsBitIdentical() throws {
        let straight = try advd(Self.job + ["--out", root + "/straight"])
        XCTAssertEqual(straight.status, 0, straight.output)
        XCTAssertTrue(straight.output.contains("final clean test accuracy"), straight.output)

        let first = try advd(Self.job + ["--out", root + "/resumed", "--checkpoint-every", "30", "--max-steps", "100"])
        XCTAssertEqual(first.status, 0, first.output)
        XCTAssertTrue(first.output.contains("stopped after step 100 of 314"), first.output)
        // the work after step 90's checkpoint is lost, as in a crash, and done again
        let second = try advd(Self.job + ["--out", root + "/resumed", "--checkpoint-every", "30"])
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.output.contains("at step 90 of 314"), second.output)

        let a = FileManager.default.contents(atPath: root + "/straight/model.safetensors")
        let b = FileManager.default.contents(atPath: root + "/resumed/model.safetensors")
        XCTAssertNotNil(a)
        XCTAssertEqual(a, b, "the resumed model differs from the uninterrupted one")
    }

    func testBadArgumentsGetAClearError() throws {
        let missing = try advd(["train", "--dataset", "mnist", "--data-dir", "/nonexistent/mnist"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.output.contains("dataset folder /nonexistent/mnist does not exist"), missing.output)
        let model = try advd(["train", "--dataset", "blobs", "--model", "transformer"])
        XCTAssertNotEqual(model.status, 0)
        XCTAssertTrue(model.output.contains("unknown architecture \"transformer\""), model.output)
    }
}
