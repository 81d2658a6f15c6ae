import AdvRobust
import AdvTestSupport
import Foundation
import XCTest

/// The pages people look at, in a real browser: headless Chromium (Debian's `chromium`, installed by
/// `make test`) loads a job's report.html and a comparison page written by `advctl`, and a check added
/// to a copy of each page reports every image that did not load; the browser's log must hold no
/// script error. Each page is also rendered to a PNG, which must decode and not be blank.
final class BrowserTests: XCTestCase {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func fashion(_ method: String) -> String {
        """
        name: page-\(method)
        seed: 4
        dataset: {name: fashion-mnist, train_examples: 300, test_examples: 40}
        model: {architecture: mlp, hidden: [16]}
        train: {method: \(method), epochs: 2, batch_size: 50}
        threat_model: {norm: linf, epsilon: 0.1}
        evaluation: {attacks: [{name: pgd, steps: 3}, {name: fgsm}], epsilon_curve: [0.05, 0.1], sanity_checks: {probe_examples: 16}}
        """
    }

    /// Runs Chromium headless; returns what it printed on stdout and on stderr (its log).
    static func chromium(_ arguments: [String]) throws -> (output: String, log: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium!)
        // as root Chromium needs --no-sandbox; the pages carry no script of their own
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]
            + arguments
        let output = Pipe(), log = Pipe()
        process.standardOutput = output
        process.standardError = log
        try process.run()
        // both pipes are drained at once, so neither can fill up and stall the browser
        let logged = LockedData()
        let reader = Thread { logged.set(log.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (String(decoding: printed, as: UTF8.self), String(decoding: logged.wait(), as: UTF8.self))
    }

    /// Loads `page` with a check appended (in a copy beside it, so relative images resolve the same)
    /// and returns what the check found.
    static func inspect(_ page: String) throws -> (images: Int, broken: [String], svgs: Int, scriptErrors: [String]) {
        let check = """
            <script>
            window.addEventListener('load', () => {
              const images = Array.from(document.images);
              const broken = images.filter(i => !i.complete || i.naturalWidth === 0).map(i => (i.getAttribute('src') || '').slice(0, 80));
              const pre = document.createElement('pre');
              pre.id = 'advd-check';
              pre.textContent = JSON.stringify({images: images.length, broken: broken, svgs: document.querySelectorAll('svg').length});
              document.body.appendChild(pre);
            });
            </script>
            """
        let html = try String(contentsOfFile: page, encoding: .utf8)
        XCTAssertFalse(html.contains("<script"), "\(page) carries a script")
        let copy = (page as NSString).deletingPathExtension + "-checked.html"
        try html.replacingOccurrences(of: "</body>", with: check + "</body>").write(toFile: copy, atomically: true, encoding: .utf8)
        let run = try chromium(["--virtual-time-budget=5000", "--dump-dom", "file://" + copy])
        let errors = run.log.split(separator: "\n").map(String.init).filter { $0.contains("CONSOLE") || $0.contains("Uncaught") }
        let pattern = try NSRegularExpression(pattern: "<pre id=\"advd-check\">(.*?)</pre>")
        guard let match = pattern.firstMatch(in: run.output, range: NSRange(run.output.startIndex..., in: run.output)),
              let range = Range(match.range(at: 1), in: run.output),
              let result = try JSONSerialization.jsonObject(with: Data(run.output[range].replacingOccurrences(of: "&quot;", with: "\"").utf8))
                as? [String: Any] else {
            throw TestFailure("the check did not run in \(copy); Chromium printed \(run.output.prefix(300)) and logged \(run.log.suffix(600))")
        }
        return (result["images"] as? Int ?? -1, result["broken"] as? [String] ?? ["?"], result["svgs"] as? Int ?? -1, errors)
    }

    /// Renders `page` to a PNG and decodes it.
    static func screenshot(_ page: String, width: Int, height: Int) throws -> PNGImage {
        let file = (page as NSString).deletingPathExtension + ".png"
        _ = try chromium(["--window-size=\(width),\(height)", "--screenshot=\(file)", "file://" + page])
        return try PNGImage.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: file))))
    }

    func testReportAndComparisonPagesRenderWithEveryImageAndNoScriptError() throws {
        guard Self.chromium != nil else {
            return XCTFail("chromium is not installed: `make test` installs it (apt-get install chromium)")
        }
        let daemon = try DaemonHarness()
        daemon.extraDatasetRoots = ["/usr/share/datasets"]
        try daemon.start()
        XCTAssertTrue(daemon.waitForNotification("READY=1"))
        for (number, method) in ["standard", "fast-at"].enumerated() {
            try daemon.drop(Self.fashion(method), as: "\(method).yaml")
            let job = try daemon.waitForJob(number + 1, in: ["succeeded", "failed"])
            XCTAssertEqual(job["state"] as? String, "succeeded", "\(job)")
        }
        // the report as the job wrote it (images beside it) and as advctl copies it out (images inside)
        let inFolder = daemon.stateFolder + "/jobs/1/report.html", copied = daemon.root + "/report-copy.html"
        XCTAssertEqual(try daemon.advctl(["report", "1", "--output", copied]).status, 0)
        let comparison = daemon.root + "/compare.html"
        XCTAssertEqual(try daemon.advctl(["compare", "1", "2", "--html", comparison]).status, 0)

        for (page, images, svgs) in [(inFolder, 24, 5), (copied, 24, 5), (comparison, 0, 1)] {
            let found = try Self.inspect(page)
            XCTAssertEqual(found.images, images, page)
            XCTAssertEqual(found.broken, [], "\(page): images that did not load")
            XCTAssertEqual(found.svgs, svgs, page)
            XCTAssertEqual(found.scriptErrors, [], page)
            let shot = try Self.screenshot(page, width: 1000, height: 1400)
            XCTAssertEqual(shot.width, 1000, page)
            XCTAssertGreaterThan(Set(shot.pixels).count, 16, "\(page) rendered blank")
        }

        // the check sees what it is there to see: the report away from its images, and a script error
        let moved = daemon.root + "/moved/report.html"
        try FileManager.default.createDirectory(atPath: daemon.root + "/moved", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: inFolder, toPath: moved)
        XCTAssertEqual(try Self.inspect(moved).broken.count, 24)
        let faulty = daemon.root + "/faulty.html", scripted = daemon.root + "/scripted.html"
        try "<!DOCTYPE html><html><body><p>x</p><img src=\"data:image/png;base64,AAAA\"></body></html>"
            .write(toFile: faulty, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Self.inspect(faulty).broken.count, 1)
        try "<!DOCTYPE html><html><body><script>undefinedFunction()</script></body></html>".write(toFile: scripted, atomically: true, encoding: .utf8)
        let log = try Self.chromium(["--virtual-time-budget=2000", "--dump-dom", "file://" + scripted]).log
        XCTAssertTrue(log.contains("CONSOLE") && log.contains("Uncaught ReferenceError"), log)
    }
}

/// Data written by one thread and read by another once it is there.
private final class LockedData: @unchecked Sendable {
    private let condition = NSCondition()
    private var data: Data?

    func set(_ value: Data) {
        condition.lock()
        data = value
        condition.signal()
        condition.unlock()
    }

    func wait() -> Data {
        condition.lock()
        defer { condition.unlock() }
        while data == nil { condition.wait() }
        return data!
    }
}
