import AdvNN
import AdvProtocol
import AdvRobust
import Foundation

/// `report` and `compare`: pages built from the files a job wrote (report.html, metrics.json).
extension RequestHandler {
    /// The job's report.html, with its example images inlined when asked.
    func report(_ job: JobInfo, inlineImages: Bool) throws -> Response {
        let path = job.outputFolder + "/report.html"
        guard !job.outputFolder.isEmpty, let data = FileManager.default.contents(atPath: path) else {
            let why = job.state.isFinished ? "its files are gone (removed by retention?)" : "it is \(job.state.rawValue); the report is written when it ends"
            throw ProtocolError(code: .conflict, message: "job \(job.id) has no report.html: \(why)")
        }
        var html = String(decoding: data, as: UTF8.self)
        if inlineImages { html = Self.inliningImages(html, folder: job.outputFolder) }
        return .report(JobReport(job: job.id, path: path, html: html))
    }

    /// Replaces each `src="examples/NNNNN-kind.png"` with the image as a data: URL. Only names of that
    /// form are read, so a page cannot make the daemon read another file.
    static func inliningImages(_ html: String, folder: String) -> String {
        guard let pattern = try? NSRegularExpression(pattern: "src=\"(examples/[0-9]+-[a-z]+\\.png)\"") else { return html }
        var result = html
        for match in pattern.matches(in: html, range: NSRange(html.startIndex..., in: html)).reversed() {
            guard let range = Range(match.range, in: html), let nameRange = Range(match.range(at: 1), in: html),
                  let image = FileManager.default.contents(atPath: folder + "/" + html[nameRange]) else { continue }
            result.replaceSubrange(range, with: "src=\"data:image/png;base64,\(image.base64EncodedString())\"")
        }
        return result
    }

    /// Two or more succeeded jobs side by side, from their metrics.json.
    func compare(_ ids: [Int64]) throws -> Response {
        guard ids.count >= 2 else { throw ProtocolError(code: .badRequest, message: "compare: name at least two jobs") }
        guard ids.count <= 50 else { throw ProtocolError(code: .badRequest, message: "compare: at most 50 jobs at once, got \(ids.count)") }
        let runs = try ids.map { id -> (label: String, metrics: RunMetrics) in
            let info = try job(id)
            guard info.state == .succeeded else {
                throw ProtocolError(code: .conflict, message: "job \(id) is \(info.state.rawValue): only succeeded jobs have results to compare")
            }
            let path = info.outputFolder + "/metrics.json"
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ProtocolError(code: .conflict, message: "job \(id): \(path) is gone (removed by retention?)")
            }
            do {
                return ("#\(id) \(info.name)", try JSONCoding.decode(RunMetrics.self, from: String(decoding: data, as: UTF8.self)))
            } catch {
                throw ProtocolError(code: .conflict, message: "job \(id): \(path) was written by another advd version and cannot be read (\(error))")
            }
        }
        let comparison = RunComparison(runs: runs)
        func rows(_ rows: [RunComparison.Row]) -> [Comparison.Row] { rows.map { Comparison.Row(name: $0.name, values: $0.values) } }
        return .comparison(Comparison(jobs: runs.map(\.label), settings: rows(comparison.differingSettings),
                                      results: rows(comparison.results), html: comparison.html()))
    }
}
