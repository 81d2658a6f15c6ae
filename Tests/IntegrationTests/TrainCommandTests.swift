import AdvTestSupport
import Foundation
import XCTest

/// `advd train` as a user runs it: separate processes, interrupted and resumed, compared byte for byte.
/// (XCTest rather than Swift Testing: these tests drive whole processes, one after another.)
final class TrainCommandTests: XCTestCase {
    static let job = ["train", "--dataset", "blobs", "--model", "mlp", "--hidden", "16", "--epochs", "2",
                      "--batch-size", "64", "--seed", "5", "--threads", "2"]

    private var folder: TemporaryFolder!
    private var root: String { folder.path }

    override func setUpWithError() throws {
        try XCTSkipUnless(AdvdProcess.isBuilt, "needs the advd executable at \(AdvdProcess.path)")
        folder = TemporaryFolder(prefix: "advd-cli-")
    }

    private func advd(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try AdvdProcess.run(arguments)
    }

    func testInterruptedRunResumedInANewProcessEndsBitIdentical() throws {
        let straight = try advd(Self.job + ["--out", root + "/straight"])
        XCTAssertEqual(straight.status, 0, straight.output)
        XCTAssertTrue(straight.output.contains("final clean test accuracy"), straight.output)

        // a stop after --max-steps saves where it stopped, even between regular checkpoints
        let first = try advd(Self.job + ["--out", root + "/resumed", "--max-steps", "100"])
        XCTAssertEqual(first.status, 0, first.output)
        XCTAssertTrue(first.output.contains("stopped after step 100 of 314; its checkpoint is in \(root)/resumed/checkpoints"), first.output)
        let second = try advd(Self.job + ["--out", root + "/resumed"])
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.output.contains("at step 100 of 314"), second.output)
        // without --out nothing is saved, and the message says so
        let unsaved = try advd(Self.job + ["--max-steps", "10"])
        XCTAssertTrue(unsaved.output.contains("stopped after step 10 of 314; nothing was saved (no --out)"), unsaved.output)

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
        XCTAssertTrue(model.output.contains("--model: expected one of linear, mlp, cnn-small, lenet, preact-resnet, got \"transformer\""),
                      model.output)
    }

    /// The options read the same registries as manifests: names, keys and ranges are checked alike.
    func testOptionsAreCheckedByTheRegistries() throws {
        let cases: [([String], String)] = [
            (["--dataset", "blob"], "--dataset: expected one of fashion-mnist, mnist, idx, cifar10, tsipras, blobs, got \"blob\"; did you mean blobs?"),
            (["--dataset", "mnist"], "--data-dir: required for dataset mnist"),
            (["--dataset", "blobs", "--optimizer", "adam", "--momentum", "0.5"], "--momentum: momentum applies to sgd, not adam"),
            (["--dataset", "blobs", "--model", "linear", "--hidden", "16"], "--hidden: hidden applies to mlp and cnn-small, not linear"),
            (["--dataset", "blobs", "--model", "mlp", "--widths", "4,8"], "--widths: widths applies to cnn-small and preact-resnet, not mlp"),
            (["--dataset", "blobs", "--activation", "tanh"], "--activation: expected one of relu, silu, got \"tanh\""),
            (["--dataset", "blobs", "--model", "lenet", "--activation", "silu"], "--activation: activation applies to mlp, cnn-small and preact-resnet, not lenet"),
            (["--dataset", "blobs", "--hidden", "8,x"], "--hidden: expected comma-separated integers, got \"8,x\""),
            (["--dataset", "blobs", "--lr", "50"], "--lr: expected a number in (0, 10], got \"50\""),
            (["--dataset", "blobs", "--schedule", "cosin"], "--schedule: expected one of constant, step, cosine, one-cycle, got \"cosin\"; did you mean cosine?"),
        ]
        for (arguments, message) in cases {
            let result = try advd(["train"] + arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            XCTAssertTrue(result.output.contains(message), "\(arguments): \(result.output)")
        }
    }
}
