import AdvProtocol
import ArgumentParser
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "A job's report.html: its path, a copy anywhere, or opened in a browser.",
        discussion: """
            The report holds the claim with its full configuration, the results with 95% intervals, charts, every \
            sanity check and example images; a failed job's report says why it failed and what it measured before. \
            --output and --open write the page with its images inside it, so it opens anywhere.
            """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The job id.") var job: JobID
    @Flag(help: "Write the page to a temporary file and open it with xdg-open (or $BROWSER).") var open = false
    @Flag(help: "Print only the report's path in the job folder.") var path = false
    @Option(name: .shortAndLong, help: "Write the page, images inlined, to this file.") var output: String?

    func validate() throws {
        if [open, path, output != nil].filter({ $0 }).count > 1 { throw ValidationError("--open, --path and --output exclude each other") }
    }

    func run() throws {
        let inline = open || output != nil
        let report = try connection.perform(.report(ReportQuery(job: job.value, inlineImages: inline))) {
            if case let .report(report) = $0 { report } else { nil }
        }
        if path { return print(report.path) }
        if let output {
            try write(report.html, to: output)
            return print("wrote \(output)")
        }
        if open {
            let file = NSTemporaryDirectory() + "advd-report-\(job.value).html"
            try write(report.html, to: file)
            try openInBrowser(file)
            return
        }
        print(report.path)
        print("open it in a browser, or: advctl report \(job.value) --open (or --output FILE for a copy with its images inside)")
    }
}

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Succeeded jobs side by side: the settings that differ, the results, and a page with their ε-curves overlaid.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Two or more job ids.") var jobs: [JobID]
    @Flag(help: "Print the comparison as JSON (without the page).") var json = false
    @Flag(help: "Print the comparison as CSV: section, name, then one column per job.") var csv = false
    @Option(help: "Where to write the comparison page (default: compare-<ids>.html here).") var html: String?

    func validate() throws {
        if jobs.count < 2 { throw ValidationError("name at least two jobs") }
        if json && csv { throw ValidationError("--json and --csv exclude each other") }
    }

    func run() throws {
        let comparison = try connection.perform(.compare(CompareQuery(jobs: jobs.map(\.value)))) {
            if case let .comparison(comparison) = $0 { comparison } else { nil }
        }
        let page = html ?? "compare-" + jobs.map { "\($0.value)" }.joined(separator: "-") + ".html"
        if json {
            var plain = comparison
            plain.html = ""
            return printJSON(plain)
        }
        if csv { return print(Self.csv(comparison), terminator: "") }
        try write(comparison.html, to: page)
        let header = [""] + comparison.jobs
        print(comparison.settings.isEmpty ? "settings: the same apart from the names"
              : Format.table([["SETTING"] + comparison.jobs] + comparison.settings.map { [$0.name] + $0.values }))
        print("")
        print(Format.table([header.enumerated().map { $0.offset == 0 ? "RESULT" : $0.element }] + comparison.results.map { [$0.name] + $0.values }))
        print("\nwrote \(page) (the ε-curves overlaid)")
    }

    static func csv(_ comparison: Comparison) -> String {
        func field(_ text: String) -> String {
            text.contains(where: { ",\"\n".contains($0) }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var lines = [(["section", "name"] + comparison.jobs).map(field).joined(separator: ",")]
        for (section, rows) in [("setting", comparison.settings), ("result", comparison.results)] {
            for row in rows { lines.append(([section, row.name] + row.values).map(field).joined(separator: ",")) }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Writes a page the user asked for; a failure names the file.
private func write(_ text: String, to path: String) throws {
    do { try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
        try? FileHandle.standardError.write(contentsOf: Data("advctl: \(path): cannot write: \(error.localizedDescription)\n".utf8))
        throw ExitCode(1)
    }
}

/// Opens `file` with $BROWSER or xdg-open; where neither exists, says where the file is.
private func openInBrowser(_ file: String) throws {
    let opener = ProcessInfo.processInfo.environment["BROWSER"].flatMap { $0.isEmpty ? nil : $0 } ?? "xdg-open"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [opener, file]
    do {
        try process.run()
        process.waitUntilExit()
    } catch {
        print("wrote \(file); could not start \(opener) (\(error.localizedDescription)): open the file in a browser")
        return
    }
    if process.terminationStatus != 0 {
        print("wrote \(file); \(opener) exited with status \(process.terminationStatus): open the file in a browser")
    } else {
        print("opened \(file)")
    }
}
