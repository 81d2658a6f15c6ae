import AdvProtocol
import Foundation
import Testing

/// Requests on the wire: every command survives a round trip, and every way a line can be wrong gets
/// an error that says which way.
@Suite struct RequestTests {
    static let every: [Request] = [
        .status,
        .submit([Submission(manifest: "name: a\n", manifestName: "a.yaml", priority: 3, labels: ["x", "y"]),
                 Submission(manifest: "name: b\n", manifestName: "b.yaml")]),
        .list(ListQuery(states: [.queued, .recordingFailed], nameContains: "mlp", label: "x", limit: 5,
                        since: Date(timeIntervalSince1970: 1_700_000_000))),
        .list(ListQuery()),
        .show(JobReference(job: 1)),
        .logs(LogQuery(job: 2, offset: 4096)),
        .results(JobReference(job: 3)),
        .cancel(JobReference(job: 4)),
        .retry(JobReference(job: 5)),
        .artifacts(JobReference(job: 6)),
        .report(ReportQuery(job: 7, inlineImages: true)),
        .compare(CompareQuery(jobs: [8, 9])),
    ]

    @Test func everyCommandRoundTrips() throws {
        #expect(Set(Self.every.map(\.command)) == Set(Request.Command.allCases))
        for request in Self.every {
            let line = try request.encodedLine()
            #expect(line.last == 0x0A && !line.dropLast().contains(0x0A), "one line: \(request)")
            #expect(try Request.decode(line.dropLast()) == request)
        }
    }

    @Test func theWireFormIsAnEnvelopeWithVersionCommandAndArguments() throws {
        let line = String(decoding: try Request.show(JobReference(job: 7)).encodedLine(), as: UTF8.self)
        #expect(line == #"{"arguments":{"job":7},"command":"show","version":3}"# + "\n")
        #expect(String(decoding: try Request.status.encodedLine(), as: UTF8.self) == #"{"command":"status","version":3}"# + "\n")
    }

    @Test(arguments: [
        ("not json", ProtocolError.Code.badRequest, "not a valid request: not JSON"),
        (#"{"command": "status"}"#, .badRequest, "not a valid request: missing field version"),
        (#"{"version": 1, "command": "status"}"#, .badRequest, "protocol version 1 is not supported; this daemon speaks version 3"),
        (#"{"version": 3, "command": "reboot"}"#, .unknownCommand,
         "unknown command \"reboot\"; expected one of status, submit, list, show, logs, results, cancel, retry, artifacts"),
        (#"{"version": 3, "command": "show"}"#, .badRequest, "show: missing field arguments"),
        (#"{"version": 3, "command": "logs", "arguments": {"job": 1}}"#, .badRequest, "logs: missing field arguments.offset"),
        (#"{"version": 3, "command": "submit", "arguments": [{"manifest": 3}]}"#, .badRequest, "submit: wrong type at arguments[0].manifest"),
        (#"{"version": 3, "command": "list", "arguments": {"states": ["sleeping"]}}"#, .badRequest, "list: invalid value at arguments.states"),
    ])
    func aBadLineGetsAnErrorSayingWhatIsWrong(line: String, code: ProtocolError.Code, message: String) {
        do {
            let request = try Request.decode(Data(line.utf8))
            Issue.record("\(line) decoded as \(request)")
        } catch let error as ProtocolError {
            #expect(error.code == code)
            #expect(error.message.hasPrefix(message), "\(error.message)")
        } catch {
            Issue.record("not a ProtocolError: \(error)")
        }
    }
}
