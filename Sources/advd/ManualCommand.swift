import AdvVersion
import ArgumentParser
import Foundation

/// `advd manual`: man pages (section 1) for advd and advctl, written from what argument-parser says of
/// each command (`--experimental-dump-help`), so they list exactly the commands and options the
/// binaries accept. `make build` runs it; `make install` installs the pages.
struct ManualCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manual", abstract: "Write the man pages of advd and advctl (roff, section 1) into a folder.", shouldDisplay: false)

    @Option(help: "The folder to write advd.1 and advctl.1 into.") var output: String
    @Option(help: "The advctl executable (default: the one beside this advd).") var advctl: String?

    func run() throws {
        let here = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        for (tool, path) in [("advd", here.appendingPathComponent("advd").path), ("advctl", advctl ?? here.appendingPathComponent("advctl").path)] {
            let page = ManualPage(tool: tool, help: try Self.dumpHelp(path)).roff()
            try Data(page.utf8).write(to: URL(fileURLWithPath: output + "/\(tool).1"), options: .atomic)
            print("wrote \(output)/\(tool).1")
        }
    }

    /// The command tree as argument-parser describes it.
    static func dumpHelp(_ executable: String) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--experimental-dump-help"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let command = object["command"] as? [String: Any] else {
            throw ValidationError("\(executable) --experimental-dump-help gave no command description")
        }
        return command
    }
}

/// One man page: NAME, SYNOPSIS, DESCRIPTION, OPTIONS, then a section per subcommand with its options.
struct ManualPage {
    let tool: String
    let help: [String: Any]

    func roff() -> String {
        var lines = [".TH \(tool.uppercased()) 1 \"\" \"advd \(AdvdVersion.current)\" \"advd manual\"",
                     ".SH NAME", "\(tool) \\- \(Self.escape(help["abstract"] as? String ?? ""))",
                     ".SH SYNOPSIS", ".B \(tool)", "[\\fIcommand\\fR] [\\fIoptions\\fR]"]
        if let discussion = help["discussion"] as? String { lines += [".SH DESCRIPTION", Self.escape(discussion)] }
        lines += options(of: help, heading: ".SH OPTIONS")
        let subcommands = (help["subcommands"] as? [[String: Any]] ?? []).filter { ($0["shouldDisplay"] as? Bool) != false }
            .filter { ($0["commandName"] as? String) != "help" }
        if !subcommands.isEmpty { lines.append(".SH COMMANDS") }
        for command in subcommands {
            let name = command["commandName"] as? String ?? "?"
            let arguments = (command["arguments"] as? [[String: Any]] ?? []).filter { ($0["kind"] as? String) == "positional" }
                .map { "\\fI\(($0["valueName"] as? String) ?? "argument")\\fR" }
            lines += [".SS \"\(tool) \(name)\(arguments.isEmpty ? "" : " " + arguments.joined(separator: " "))\"",
                      Self.escape(command["abstract"] as? String ?? "")]
            if let discussion = command["discussion"] as? String { lines += [".PP", Self.escape(discussion)] }
            lines += options(of: command, heading: nil)
        }
        lines += [".SH SEE ALSO", tool == "advd" ? "advctl(1)" : "advd(1)",
                  ".PP", "The README and docs/manifest.md of the advd source tree."]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The command's named options as tagged paragraphs (help and version flags left out).
    private func options(of command: [String: Any], heading: String?) -> [String] {
        func names(_ argument: [String: Any]) -> [String] {
            (argument["names"] as? [[String: Any]] ?? []).compactMap { name -> String? in
                guard let text = name["name"] as? String else { return nil }
                return (name["kind"] as? String) == "short" ? "-\(text)" : "--\(text)"
            }
        }
        let named = (command["arguments"] as? [[String: Any]] ?? []).filter {
            ($0["kind"] as? String) != "positional" && ($0["shouldDisplay"] as? Bool) != false
                && Set(names($0)).isDisjoint(with: ["--help", "-h", "--version"])
        }
        var lines = named.isEmpty ? [] : heading.map { [$0] } ?? []
        for argument in named {
            let names = names(argument)
            let value = (argument["kind"] as? String) == "option" ? " \\fI\(argument["valueName"] as? String ?? "value")\\fR" : ""
            lines += [".TP", "\\fB\(names.map(Self.escape).joined(separator: ", "))\\fR\(value)", Self.escape(argument["abstract"] as? String ?? "")]
        }
        return lines
    }

    /// Text safe in roff: backslashes doubled, hyphens as minus signs, no line starting with a dot.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "-", with: "\\-")
            .split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(".") || $0.hasPrefix("'") ? "\\&" + $0 : String($0) }.joined(separator: "\n")
    }
}
