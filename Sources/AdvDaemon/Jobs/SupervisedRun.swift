import AdvNN
import AdvProtocol
import AdvRobust
import Dispatch
import Foundation

/// The child side of a job: `advd run --supervised` runs one experiment for the daemon. It prints
/// `JobEventLine`s on stdout (typed events: phases, progress, epochs, checkpoints, warnings, its
/// result or its failure reason) and a readable log on stderr (the
/// job's log file); SIGTERM or SIGINT stops it after the current training step or evaluation batch
/// with its progress saved; and when its stdin reaches end of file — the daemon died, even by SIGKILL
/// — it exits at once, so a restarted daemon never finds an orphan still writing the job's folder.
/// A cluster's job (`--events-file`) writes the same lines to a file in its folder instead, and outlives
/// the daemon on purpose: the cluster, not the daemon, owns its process.
public enum SupervisedRun {
    /// Exit statuses the daemon tells apart.
    public enum ExitStatus: Int32 {
        case succeeded = 0
        /// The run stopped on SIGTERM/SIGINT with its progress saved (EX_TEMPFAIL).
        case interrupted = 75
        /// The experiment cannot run: bad manifest, missing data, diverged training (EX_DATAERR).
        case failed = 65
        /// The daemon went away (stdin closed).
        case orphaned = 70
    }

    /// Runs the manifest at `manifestPath` into `outputFolder` and returns the exit status.
    /// - Parameters:
    ///   - jobsFolder: where `job:<id>` weights are found.
    ///   - compute: the threads the job computes on.
    /// - Parameter readRoots: the daemon's dataset roots; when given, every file the job reads is
    ///   checked where it is opened (`FileAccess`): beneath a root, in the job's own folder, or another
    ///   job's `model.safetensors`.
    /// - Parameter eventsPath: where a cluster's job appends its events (`events.jsonl` in its folder)
    ///   instead of stdout; such a job has no daemon holding its stdin, so it does not watch for one.
    public static func run(manifestPath: String, outputFolder: String, jobsFolder: String?, readRoots: [String] = [],
                           eventsPath: String? = nil, compute: ComputeContext) -> ExitStatus {
        if !readRoots.isEmpty {
            FileAccess.confine(to: ReadPolicy(roots: readRoots + [outputFolder], jobsFolder: jobsFolder))
        }
        let stop = StopFlag()
        let signals = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.request() }
            source.resume()
            return source
        }
        let orphanWatch = eventsPath == nil ? watchForOrphaning() : nil
        defer { signals.forEach { $0.cancel() }; orphanWatch?.cancel() }

        let reporter: Reporter
        if let eventsPath {
            let descriptor = open(eventsPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                log("error: \(eventsPath): cannot open the events file: \(String(cString: strerror(errno)))")
                return .failed
            }
            reporter = Reporter(sink: FileHandle(fileDescriptor: descriptor, closeOnDealloc: true))
        } else {
            reporter = Reporter(sink: .standardOutput)
        }
        // one writer per job folder: a child orphaned by a daemon that died is exiting (its stdin
        // closed), and a resumed run waits here until it has, so the two never write together
        try? FileManager.default.createDirectory(atPath: outputFolder, withIntermediateDirectories: true)
        let lock = open(outputFolder + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if lock >= 0 { while flock(lock, LOCK_EX) != 0 && errno == EINTR {} }
        defer { if lock >= 0 { close(lock) } }
        do {
            let manifest = try ExperimentManifest.load(path: manifestPath)
            var runner = ExperimentRunner(manifest: manifest, outputFolder: outputFolder)
            runner.manifestSource = ExperimentManifest.source(ofPath: manifestPath)
            runner.shouldStop = { stop.isRequested }
            runner.jobsFolder = jobsFolder
            runner.compute = compute
            log("advd run: \(manifest.name) → \(outputFolder) (\(Wording.counted(compute.threads, "thread")))")
            log("machine: \(ComputeProvenance.current(threads: compute.threads).summary)")
            let result = try runner.run { reporter.report($0) }
            let report = result.metrics.evaluation
            log(String(format: "done: clean %.2f%%, worst case %.2f%% under %@", report.cleanAccuracy * 100,
                       report.worstCaseRobustAccuracy * 100, report.threatModel))
            let summary = EvaluationSummary(report)
            for warning in summary.warnings { reporter.emit(.warning(warning)) }
            reporter.emit(.finished(summary))
            return .succeeded
        } catch let interrupted as RunInterrupted {
            log("stopped: \(interrupted)")
            return .interrupted
        } catch {
            log("error: \(error)")
            reporter.emit(.failed(reason: "\(error)"))
            return .failed
        }
    }

    /// Appends `line` to the job's log. A line that cannot be written (the state folder's disk is full)
    /// is lost, not the run: Foundation's non-throwing `write(_:)` traps on a failed write, so this uses
    /// the throwing one and drops its error; the run then fails, or not, on its own checkpoint writes.
    static func log(_ line: String) {
        try? FileHandle.standardError.write(contentsOf: Data((line + "\n").utf8))
    }

    /// Exits when stdin reaches end of file: the daemon that holds its other end is gone.
    private static func watchForOrphaning() -> DispatchSourceRead {
        let source = DispatchSource.makeReadSource(fileDescriptor: STDIN_FILENO, queue: .global())
        source.setEventHandler {
            var byte: UInt8 = 0
            if read(STDIN_FILENO, &byte, 1) <= 0 {
                log("the daemon is gone (stdin closed): exiting; the job resumes from its last checkpoint")
                exit(ExitStatus.orphaned.rawValue)
            }
        }
        source.resume()
        return source
    }

    /// Turns the runner's progress into stdout events and log lines, with the job's overall fraction
    /// and ETA from its work plan.
    final class Reporter {
        /// Where event lines go: stdout (the daemon's pipe) or a cluster job's events file.
        private let sink: FileHandle
        private var phase = JobPhase.loading
        private var runPhase = RunPhase.loading
        private var lastStepReport = Date.distantPast
        private var plan: WorkPlan?
        /// This attempt's start and the job's fraction then: a resumed job's ETA comes from the pace of
        /// the work done since it resumed, not from work an earlier attempt did.
        private let attemptStarted = Date()
        private var fractionAtStart: Double?

        init(sink: FileHandle) {
            self.sink = sink
        }

        func report(_ progress: RunProgress) {
            switch progress {
            case let .plan(plan):
                self.plan = plan
            case let .phase(stage, text):
                log(text)
                let next = JobPhase(stage)
                runPhase = stage
                if next != phase { phase = next }
                emit(.phase(phase, detail: text))
                // what advctl shows: the phase names the attack's number; its batches come as progress
                var state = JobProgress(phase: phase)
                if case .evaluating = phase {} else { state.detail = text }
                estimate(&state, phaseFraction: 0)
                emit(.progress(state))
            case let .training(training):
                report(training)
            case let .evaluation(attack, attacks, name, batch, batches):
                var state = JobProgress(phase: .evaluating(attack: attack, of: attacks))
                runPhase = .evaluating(attack: attack, of: attacks)
                state.detail = "\(name): batch \(batch) of \(batches)"
                state.step = batch
                state.stepsPerEpoch = batches
                state.fraction = batches > 0 ? Double(batch) / Double(batches) : nil
                estimate(&state, phaseFraction: state.fraction ?? 0)
                emit(.progress(state))
            }
        }

        private func report(_ training: TrainingProgress) {
            var state = JobProgress(phase: phase == .teacher ? .teacher : .training)
            state.epoch = training.epoch
            state.epochs = training.epochs
            state.step = training.stepInEpoch
            state.stepsPerEpoch = training.stepsPerEpoch
            state.loss = training.loss
            state.accuracy = training.accuracy
            state.samplesPerSecond = training.samplesPerSecond
            let fraction = (Double(training.epoch - 1) + Double(training.stepInEpoch) / Double(max(training.stepsPerEpoch, 1)))
                / Double(max(training.epochs, 1))
            state.fraction = fraction
            estimate(&state, phaseFraction: fraction)
            switch training.event {
            case .step:
                // at most a few lines a second: the daemon keeps only the latest
                guard Date().timeIntervalSince(lastStepReport) >= 0.5 else { return }
                lastStepReport = Date()
                emit(.progress(state))
            case let .epochEnd(metrics):
                log("epoch \(metrics.epoch)/\(training.epochs): " + metrics.summary(separator: ", "))
                emit(.progress(state))
                // the teacher's epochs are not the evaluated model's
                guard phase != .teacher else { return }
                emit(.epoch(EpochRecord(epoch: metrics.epoch, trainLoss: metrics.trainLoss, trainAccuracy: metrics.trainAccuracy,
                                        validationAccuracy: metrics.validationAccuracy, heldOutRobustAccuracy: metrics.heldOutRobustAccuracy,
                                        learningRate: Double(metrics.learningRate), seconds: metrics.seconds)))
            case let .checkpoint(path):
                log("checkpoint \(path)")
                emit(.checkpoint(path: path))
            }
        }

        /// The job's fraction done and the seconds left: the work left at the pace of this attempt.
        private func estimate(_ state: inout JobProgress, phaseFraction: Double) {
            guard let plan else { return }
            let done = plan.fractionDone(in: runPhase, fraction: phaseFraction)
            state.jobFraction = done
            let start = fractionAtStart ?? done
            fractionAtStart = start
            let elapsed = Date().timeIntervalSince(attemptStarted)
            guard done - start > 0.001, elapsed > 1 else { return }
            state.etaSeconds = elapsed * (1 - done) / (done - start)
        }

        func emit(_ event: JobEvent) {
            // one write(2) per line: appends of whole lines never interleave in the events file; a
            // failed write (a full disk under a cluster's events file) is logged, never a trap
            do { try sink.write(contentsOf: Wire.encodeLine(JobEventLine(event))) } catch {
                log("error: cannot send a job event to the daemon: \(error)")
            }
        }
    }
}

extension JobPhase {
    /// The wire form of a runner's stage.
    init(_ phase: RunPhase) {
        switch phase {
        case .loading: self = .loading
        case .teacher: self = .teacher
        case .pseudoLabelling: self = .pseudoLabelling
        case .training: self = .training
        case .calibratingDetector: self = .calibratingDetector
        case let .evaluating(attack, count): self = .evaluating(attack: attack, of: count)
        case .epsilonCurve: self = .epsilonCurve
        case .sanityChecks: self = .sanityChecks
        case .writing: self = .writing
        }
    }
}

extension EvaluationSummary {
    /// The summary of a run's evaluation report, as the daemon stores it.
    init(_ report: EvaluationReport) {
        self.init(
            threatModel: report.threatModel + (report.defense.map { ", defense: \($0)" } ?? ""), examples: report.examples,
            cleanAccuracy: report.cleanAccuracy, worstCaseRobustAccuracy: report.worstCaseRobustAccuracy,
            attacks: report.attacks.map { AttackResult(name: $0.name, robustAccuracyAfter: $0.robustAccuracyAfter, newlyBroken: $0.newlyBroken) },
            epsilonCurve: report.epsilonCurve.map { AdvProtocol.EpsilonPoint(epsilon: Double($0.epsilon), robustAccuracy: $0.robustAccuracy) },
            warnings: report.warnings.map { JobWarning(check: $0.check, message: $0.message, evidence: $0.evidence, suggestion: $0.suggestion) })
    }
}

/// A flag set from a signal handler's queue and read by the compute thread.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false
    func request() { lock.withLock { requested = true } }
    var isRequested: Bool { lock.withLock { requested } }
}
