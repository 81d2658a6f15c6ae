import Foundation
import Testing

/// `advd train` as a user runs it: separate processes, interrupted and resumed, compared byte for byte.
@Suite struct TrainCommandTests {
    /// The `advd` executable built beside this test binary (`swift test` builds every product).
    static let advd = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("advd").path

    struct Outcome {
        let status: Int32
        let output: String
    }

    static func run(_ arguments: [String]) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: advd)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self))
    }

    static func temporaryFolder() -> String {
        let path = NSTemporaryDirectory() + "advd-cli-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static let job = ["train", "--dataset", "blobs", "--model", "mlp", "--hidden", "16", "--epochs", "2",
                      "--batch-size", "64", "--seed", "5", "--threads", "2"]

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: advd), "needs the advd executable"))
    func interruptedRunResumedInANewProcessEndsBitIdentical() throws {
        let root = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let straight = try Self.run(Self.job + ["--out", root + "/straight"])
        #expect(straight.status == 0, "\(straight.output)")
        #expect(straight.output.contains("final clean test accuracy"))

        let first = try Self.run(Self.job + ["--out", root + "/resumed", "--checkpoint-every", "30", "--max-steps", "100"])
        #expect(first.status == 0 && first.output.contains("stopped after step 100 of 314"), "\(first.output)")
        let second = try Self.run(Self.job + ["--out", root + "/resumed", "--checkpoint-every", "30"])
        #expect(second.output.contains("resumed from") && second.output.contains("at step 90 of 314"), "\(second.output)")

        let a = FileManager.default.contents(atPath: root + "/straight/model.safetensors")
        let b = FileManager.default.contents(atPath: root + "/resumed/model.safetensors")
        #expect(a != nil && a == b, "the resumed model differs from the uninterrupted one")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: advd), "needs the advd executable"))
    func badArgumentsGetAClearError() throws {
        let missing = try Self.run(["train", "--dataset", "mnist", "--data-dir", "/nonexistent/mnist"])
        #expect(missing.status != 0 && missing.output.contains("dataset folder /nonexistent/mnist does not exist"))
        let model = try Self.run(["train", "--dataset", "blobs", "--model", "transformer"])
        #expect(model.status != 0 && model.output.contains("unknown architecture \"transformer\""))
    }
}
