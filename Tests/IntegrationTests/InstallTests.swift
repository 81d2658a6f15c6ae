import AdvTestSupport
import Foundation
import XCTest

/// `make install` as a package build runs it: into a DESTDIR, from an existing build, writing exactly
/// the files it lists; `make uninstall` removes them and keeps the configuration.
final class InstallTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Every regular file under `folder`, relative to it, sorted.
    static func files(under folder: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: folder)
        var found: [String] = []
        while let path = enumerator?.nextObject() as? String {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder + "/" + path, isDirectory: &isFolder), !isFolder.boolValue { found.append(path) }
        }
        return found.sorted()
    }

    func testInstallIntoADestdirWritesExactlyItsFilesAndUninstallRemovesThem() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/make") else { return XCTFail("make is not installed") }
        let stage = TemporaryFolder(prefix: "advd-install-")
        let build = URL(fileURLWithPath: AdvdProcess.path).deletingLastPathComponent().path
        let make = { (target: String, extra: [String]) in
            try AdvdProcess.run(executable: "/usr/bin/make", arguments: ["-C", Self.repository, target, "DESTDIR=\(stage.path)",
                                                                        "BUILDDIR=\(build)", "PREFIX=/opt/advd"] + extra)
        }
        // what make build does after compiling: the man pages beside the binaries
        let manual = try AdvdProcess.run(["manual", "--output", build + "/man"])
        XCTAssertEqual(manual.status, 0, manual.output)
        let installed = try make("install", [])
        XCTAssertEqual(installed.status, 0, installed.output)
        XCTAssertFalse(installed.output.contains("apt-get") || installed.output.contains("swift build"), installed.output)
        XCTAssertEqual(Self.files(under: stage.path), [
            "etc/advd/advd.yaml", "etc/systemd/system/advd.service",
            "opt/advd/bin/advctl", "opt/advd/bin/advd",
            "opt/advd/lib/sysusers.d/advd.conf", "opt/advd/lib/tmpfiles.d/advd.conf",
            "opt/advd/share/bash-completion/completions/advctl", "opt/advd/share/bash-completion/completions/advd",
            "opt/advd/share/fish/vendor_completions.d/advctl.fish", "opt/advd/share/fish/vendor_completions.d/advd.fish",
            "opt/advd/share/man/man1/advctl.1", "opt/advd/share/man/man1/advd.1",
            "opt/advd/share/zsh/site-functions/_advctl", "opt/advd/share/zsh/site-functions/_advd",
        ])
        // the unit runs the installed binary, and the completions know the commands
        let unit = try String(contentsOfFile: stage.file("etc/systemd/system/advd.service"), encoding: .utf8)
        XCTAssertTrue(unit.contains("ExecStart=/opt/advd/bin/advd serve"), unit)
        let completion = try String(contentsOfFile: stage.file("opt/advd/share/bash-completion/completions/advctl"), encoding: .utf8)
        XCTAssertTrue(completion.contains("compare") && completion.contains("report"), "the bash completion lacks advctl's commands")
        let page = try String(contentsOfFile: stage.file("opt/advd/share/man/man1/advctl.1"), encoding: .utf8)
        XCTAssertTrue(page.hasPrefix(".TH ADVCTL 1") && page.contains(".SS \"advctl compare") && page.contains("\\-\\-csv"), page)
        // a second install keeps a configuration that is already there
        try "# edited\n".write(toFile: stage.file("etc/advd/advd.yaml"), atomically: true, encoding: .utf8)
        XCTAssertTrue(try make("install", []).output.contains("kept the existing /etc/advd/advd.yaml"))

        let removed = try make("uninstall", [])
        XCTAssertEqual(removed.status, 0, removed.output)
        XCTAssertEqual(Self.files(under: stage.path), ["etc/advd/advd.yaml"])
        XCTAssertEqual(try String(contentsOfFile: stage.file("etc/advd/advd.yaml"), encoding: .utf8), "# edited\n")
        XCTAssertEqual(try make("uninstall", ["PURGE=1"]).status, 0)
        XCTAssertEqual(Self.files(under: stage.path), [])
    }
}
