import AdvDaemon
import AdvNN
import AdvRobust
import AdvTerminal
import ArgumentParser
import Foundation

/// `advd run MANIFEST`: one experiment in the foreground, with no daemon.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the experiment a manifest describes: train, attack, report.",
        discussion: """
            Writes report.md, metrics.json, manifest.yaml (the manifest normalised), model.safetensors, adversarial.safetensors and checkpoints to the output folder. \
            Run the same command again after an interruption and it resumes from the last checkpoint, \
            in training or in evaluation, with bit-identical final results. \
            docs/manifest.md documents the manifest.
            """)

    @Argument(help: "The experiment manifest (YAML or JSON).")
    var manifest: String
    @Option(help: "Output folder (default: runs/<name>).")
    var out: String?
    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?
    @Flag(help: "Run as a job of advd serve: progress as JSON lines on stdout, the log on stderr, SIGTERM stops with progress saved, exit when stdin closes.")
    var supervised = false
    @Option(help: "With --supervised: the daemon's job folders, where job:<id> weights are found.")
    var jobsFolder: String?
    @Option(name: .customLong("read-root"),
            help: "With --supervised: a folder the job may read (repeatable); with any, it reads nothing else but its own folder and other jobs' models.")
    var readRoots: [String] = []
    @Option(help: "With --supervised: append the job's events to this file instead of stdout, and keep running without a daemon (a cluster's job).")
    var eventsFile: String?

    func validate() throws {
        if eventsFile != nil && !supervised { throw ValidationError("--events-file needs --supervised") }
    }

    func run() throws {
        if supervised {
            let status = SupervisedRun.run(manifestPath: manifest, outputFolder: out ?? "runs/supervised", jobsFolder: jobsFolder,
                                           readRoots: readRoots, eventsPath: eventsFile, compute: try computeContext(threads: threads))
            throw ExitCode(status.rawValue)
        }
        try runWithComputeThreads(threads) { compute in
            let experiment = try ExperimentManifest.load(path: manifest)
            let folder = out ?? "runs/\(experiment.name)"
            print("advd run: \(experiment.name) → \(folder) (\(threadsText(compute)))")
            print("machine: \(ComputeProvenance.current(threads: compute.threads).summary)")
            var runner = ExperimentRunner(manifest: experiment, outputFolder: folder)
            runner.compute = compute
            runner.manifestSource = ExperimentManifest.source(ofPath: manifest)
            let line = ProgressLine()
            let result = try runner.run { Self.show($0, on: line) }
            line.finish()
            Self.summarize(result)
        }
    }

    /// Stages and epochs as lines of their own; steps and batches as the progress line, redrawn in
    /// place on a terminal (one line per update into a pipe, every 10th batch).
    private static func show(_ progress: RunProgress, on line: ProgressLine) {
        switch progress {
        case .plan:
            break
        case let .phase(_, text):
            line.print(text)
        case let .training(training):
            switch training.event {
            case .step:
                line.update(training.stepSummary)
            case let .epochEnd(metrics):
                line.print("epoch \(metrics.epoch)/\(training.epochs)  " + metrics.summary(separator: "  "))
            case .checkpoint:
                break
            }
        case let .evaluation(_, _, name, batch, batches):
            if batch > 0 && (batch == batches || batch % 10 == 0) { line.update("  \(name): batch \(batch)/\(batches)") }
        }
    }

    private static func summarize(_ result: RunResult) {
        let report = result.metrics.evaluation
        print("\nthreat model: \(report.threatModel)\(report.defense.map { ", defense: \($0)" } ?? "")")
        print(String(format: "clean accuracy                            %6.2f%%", report.cleanAccuracy * 100))
        for attack in report.attacks {
            print(String(format: "after %@ %6.2f%%", attack.name.padding(toLength: 36, withPad: " ", startingAt: 0),
                         attack.robustAccuracyAfter * 100))
        }
        print(String(format: "worst case                                %6.2f%%", report.worstCaseRobustAccuracy * 100))
        for point in report.epsilonCurve {
            print(String(format: "  ε = %-8g robust %6.2f%%", Double(point.epsilon), point.robustAccuracy * 100))
        }
        for warning in report.warnings {
            print("WARNING \(warning.check): \(warning.message)\n  evidence: \(warning.evidence)\n  try: \(warning.suggestion)")
        }
        print("wrote \(result.outputFolder)/report.md, metrics.json, manifest.yaml, model.safetensors, adversarial.safetensors")
    }
}
