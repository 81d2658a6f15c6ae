import AdvRobust
import ArgumentParser
import Foundation

/// `advd manifest-docs`: rewrites the generated tables of the manifest documentation from the registries.
struct ManifestDocsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifest-docs",
        abstract: "Regenerate the attack, defense, detector and training-method tables of docs/manifest.md from the registries.")

    @Argument(help: "The documentation file whose generated blocks to rewrite.")
    var file = "docs/manifest.md"
    @Flag(help: "Only check: exit 1 when the file differs from what the registries generate.")
    var check = false

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("\(file): cannot read the file")
        }
        let text = String(decoding: data, as: UTF8.self)
        let updated = try ManifestDocumentation.updated(text)
        if updated == text { return print("\(file): up to date") }
        if check {
            try? FileHandle.standardError.write(contentsOf: Data("\(file): out of date; run `advd manifest-docs \(file)`\n".utf8))
            throw ExitCode(1)
        }
        try Data(updated.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
        print("\(file): rewrote the generated blocks")
    }
}
