import AdvProtocol
import Foundation
import Testing

/// What a job tells its daemon: typed, versioned lines that survive a round trip, and lines of another
/// version or shape refused with the reason.
@Suite struct JobEventTests {
    static let every: [JobEvent] = [
        .phase(.loading, detail: "loading blobs"),
        .phase(.evaluating(attack: 1, of: 2), detail: "attack 1 of 2: PGD-20"),
        .progress({ var progress = JobProgress(phase: .training); progress.epoch = 2; progress.loss = 0.5; return progress }()),
        .epoch(EpochRecord(epoch: 1, trainLoss: 0.7, trainAccuracy: 0.6, validationAccuracy: 0.55, heldOutRobustAccuracy: 0.3,
                           learningRate: 0.05, seconds: 1.5)),
        .checkpoint(path: "/jobs/1/checkpoints/step-000120.safetensors"),
        .warning(JobWarning(check: "zero-gradients", message: "m", evidence: "93% of input gradients were zero", suggestion: "bpda")),
        .finished(ResponseTests.evaluation),
        .failed(reason: "dataset.path: /data/mnist: no such folder"),
    ]

    @Test func everyEventRoundTripsWithItsVersionAndTime() throws {
        let at = Date(timeIntervalSince1970: 1_700_000_000)
        for event in Self.every {
            let line = try Wire.encodeLine(JobEventLine(event, at: at))
            let decoded = try JobEventLine.decode(line.dropLast())
            #expect(decoded == JobEventLine(event, at: at))
            #expect(decoded.version == JobEventLine.currentVersion)
        }
    }

    @Test func aLineOfAnotherVersionIsRefusedWithBothVersions() throws {
        var line = JobEventLine(.failed(reason: "x"))
        line.version = 9
        let data = try Wire.encodeLine(line).dropLast()
        #expect(throws: JobEventError.self) { try JobEventLine.decode(data) }
        do { _ = try JobEventLine.decode(data) } catch {
            #expect("\(error)".contains("job event version 9; this advd reads version 1"))
        }
    }

    @Test func aLineThatIsNotAnEventIsRefused() {
        for line in ["epoch 3/10: loss 0.4", #"{"version":1,"at":"2026-01-01T00:00:00Z","event":{"reboot":{}}}"#] {
            #expect(throws: JobEventError.self, "\(line)") { try JobEventLine.decode(Data(line.utf8)) }
        }
    }
}
