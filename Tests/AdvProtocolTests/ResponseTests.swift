import AdvProtocol
import Foundation
import Testing

/// Responses on the wire: every kind survives a round trip, a failure keeps version 1's shape, and an
/// answer the client cannot read is an error, not a crash.
@Suite struct ResponseTests {
    static let job: JobInfo = {
        var job = JobInfo(id: 3, name: "mlp", ownerUID: 1000, priority: 0, labels: ["x"], state: .running, attempts: 1,
                          source: "advctl", submittedAt: Date(timeIntervalSince1970: 1_700_000_000), outputFolder: "/jobs/3")
        var progress = JobProgress(phase: .evaluating(attack: 2, of: 3))
        progress.detail = "APGD-CE: batch 4 of 10"
        progress.loss = .nan   // a diverging loss must not break the message
        job.progress = progress
        job.outcome = ResultOutcome(cleanAccuracy: 0.9, worstCaseRobustAccuracy: 0.5, warnings: 1)
        return job
    }()

    static let evaluation = EvaluationSummary(
        threatModel: "L∞ ε = 0.1", examples: 100, cleanAccuracy: 0.9, worstCaseRobustAccuracy: 0.5,
        attacks: [AttackResult(name: "PGD-20", robustAccuracyAfter: 0.5, newlyBroken: 40)],
        epsilonCurve: [EpsilonPoint(epsilon: 0.05, robustAccuracy: 0.7)],
        warnings: [JobWarning(check: "not-converged", message: "m", evidence: "e", suggestion: "s")])

    static let every: [Response] = [
        .status(DaemonStatus(version: "0.2.0", protocolVersion: 2, pid: 42, startedAt: Date(timeIntervalSince1970: 1_700_000_000),
                             uptimeSeconds: 5, workers: 2, busyWorkers: 1, threadsPerJob: 1, queued: 3, running: 1,
                             stateFolder: "/var/lib/advd", spools: ["/var/spool/advd"])),
        .submitted([SubmittedManifest(manifestName: "a.yaml", ids: [7]), SubmittedManifest(manifestName: "grid.yaml", ids: [8, 9], group: "grid-8")]),
        .jobs([job]),
        .job(job),
        .logs(LogChunk(text: "epoch 1/3\n", nextOffset: 10, finished: false)),
        .results(JobResults(job: 3, evaluation: evaluation)),
        .artifacts([Artifact(kind: "model", path: "/jobs/3/model.safetensors", bytes: 1024)]),
        .report(JobReport(job: 3, path: "/jobs/3/report.html", html: "<!DOCTYPE html>\n<p>…</p>")),
        .comparison(Comparison(jobs: ["#3 a", "#4 b"], settings: [.init(name: "train.method", values: ["standard", "pgd-at"])],
                               results: [.init(name: "clean", values: ["90.00%", "80.00%"])], html: "<html></html>")),
        .done,
        .failure(.notFound, "no job 9"),
    ]

    @Test func everyKindRoundTrips() throws {
        #expect(Set(Self.every.compactMap(\.reply)) == Set(Response.Reply.allCases))
        for response in Self.every {
            let decoded = try Response.decode(try response.encodedLine().dropLast())
            // JobProgress holds a NaN, which is never equal to itself: compare the encodings instead
            #expect(try decoded.encodedLine() == response.encodedLine(), "\(response)")
        }
        guard case let .job(job) = try Response.decode(try Response.job(Self.job).encodedLine().dropLast()) else {
            Issue.record("a job answer decodes as a job")
            return
        }
        #expect(job.progress?.loss?.isNaN == true && job.progress?.phase == .evaluating(attack: 2, of: 3))
    }

    @Test func aFailureKeepsTheShapeAnOlderClientReads() throws {
        let line = try Response.failure(.conflict, "job 3 is succeeded; cannot cancel it").encodedLine()
        let object = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any])
        #expect(object["ok"] as? Bool == false)
        #expect((object["error"] as? [String: Any])?["message"] as? String == "job 3 is succeeded; cannot cancel it")
        // and a version 1 daemon's refusal still reads as a refusal
        let old = #"{"ok":false,"version":1,"error":{"code":"bad-request","message":"protocol version 2 is not supported"}}"#
        guard case let .failure(error) = try Response.decode(Data(old.utf8)) else {
            Issue.record("a refusal decodes as a failure")
            return
        }
        #expect(error.code == .badRequest && error.message == "protocol version 2 is not supported")
    }

    @Test(arguments: [
        ("garbage", "unreadable answer from the daemon: not JSON"),
        (#"{"ok":true,"version":1}"#, "unreadable answer from the daemon: it speaks protocol version 1, this client 3"),
        (#"{"ok":true,"version":3,"reply":"weather"}"#, "unreadable answer from the daemon: unknown reply \"weather\""),
        (#"{"ok":true,"version":3,"reply":"job"}"#, "unreadable answer from the daemon: job without a payload"),
        (#"{"ok":true,"version":3,"reply":"submitted","payload":"seven"}"#, "unreadable answer from the daemon: submitted: wrong type at payload"),
    ])
    func anUnreadableAnswerIsAnError(line: String, message: String) {
        do {
            let response = try Response.decode(Data(line.utf8))
            Issue.record("\(line) decoded as \(response)")
        } catch let error as ProtocolError {
            #expect(error.code == .badResponse && error.message.hasPrefix(message), "\(error.message)")
        } catch {
            Issue.record("not a ProtocolError: \(error)")
        }
    }

    @Test func eachCommandExpectsOneKindOfAnswer() {
        #expect(Request.Command.allCases.map(\.reply) == [.status, .submitted, .jobs, .job, .logs, .results, .done, .done, .artifacts,
                                                           .report, .comparison])
    }
}
