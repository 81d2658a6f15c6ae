import AdvNN
import AdvProtocol
import AdvRobust
import Dispatch
import Foundation

/// The child side of a job: `advd run --supervised` runs one experiment for the daemon. It prints
/// `SupervisedEvent` lines on stdout (the daemon's progress feed) and a readable log on stderr (the
/// job's log file); SIGTERM or SIGINT stops it after the current training step or evaluation batch
/// with its progress saved; and when its stdin reaches end of file — the daemon died, even by SIGKILL
/// — it exits at once, so a restarted daemon never finds an orphan still writing the job's folder.
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
    /// - Parameter jobsFolder: where `job:<id>` weights are found.
    public static func run(manifestPath: String, outputFolder: String, jobsFolder: String?) -> ExitStatus {
        let stop = StopFlag()
        let signals = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.request() }
            source.resume()
            return source
        }
        let orphanWatch = watchForOrphaning()
        defer { signals.forEach { $0.cancel() }; orphanWatch.cancel() }

        let reporter = Reporter()
        // one writer per job folder: a child orphaned by a daemon that died is exiting (its stdin
        // closed), and a resumed run waits here until it has, so the two never write together
        try? FileManager.default.createDirectory(atPath: outputFolder, withIntermediateDirectories: true)
        let lock = open(outputFolder + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if lock >= 0 { while flock(lock, LOCK_EX) != 0 && errno == EINTR {} }
        defer { if lock >= 0 { close(lock) } }
        do {
            let manifest = try ExperimentManifest.load(path: manifestPath)
            var runner = ExperimentRunner(manifest: manifest, outputFolder: outputFolder)
            runner.shouldStop = { stop.isRequested }
            runner.jobsFolder = jobsFolder
            log("advd run: \(manifest.name) → \(outputFolder) (\(BLAS.threadCount) threads)")
            let result = try runner.run { reporter.report($0) }
            let report = result.metrics.evaluation
            log(String(format: "done: clean %.2f%%, worst case %.2f%% under %@", report.cleanAccuracy * 100,
                       report.worstCaseRobustAccuracy * 100, report.threatModel))
            return .succeeded
        } catch let interrupted as RunInterrupted {
            log("stopped: \(interrupted)")
            return .interrupted
        } catch {
            log("error: \(error)")
            return .failed
        }
    }

    static func log(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
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

    /// Turns the runner's progress into stdout events and log lines.
    final class Reporter {
        private var phase = "starting"
        private var phaseStarted = Date()
        private var lastStepReport = Date.distantPast

        func report(_ progress: RunProgress) {
            switch progress {
            case let .phase(text):
                log(text)
                let name = text.hasPrefix("training the teacher") ? "teacher" : text.hasPrefix("training") ? "training"
                    : text.hasPrefix("evaluating") ? "evaluation" : phase
                if name != phase { phase = name; phaseStarted = Date() }
                var state = JobProgress(phase: phase)
                state.detail = text
                emit(SupervisedEvent(kind: .phase, progress: state))
            case let .training(training):
                var state = JobProgress(phase: phase == "teacher" ? "teacher" : "training")
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
                state.etaSeconds = eta(fraction)
                switch training.event {
                case .step:
                    // at most a few lines a second: the daemon keeps only the latest
                    guard Date().timeIntervalSince(lastStepReport) >= 0.5 else { return }
                    lastStepReport = Date()
                    emit(SupervisedEvent(kind: .step, progress: state))
                case let .epochEnd(metrics):
                    let robust = metrics.heldOutRobustAccuracy.map { String(format: ", held-out PGD-10 %.2f%%", $0 * 100) } ?? ""
                    log(String(format: "epoch %d/%d: loss %.4f, train %.2f%%, test %.2f%%%@, %.1f s", metrics.epoch, training.epochs,
                               metrics.trainLoss, metrics.trainAccuracy * 100, metrics.testAccuracy * 100, robust, metrics.seconds))
                    let record = EpochRecord(epoch: metrics.epoch, trainLoss: metrics.trainLoss, trainAccuracy: metrics.trainAccuracy,
                                             testAccuracy: metrics.testAccuracy, heldOutRobustAccuracy: metrics.heldOutRobustAccuracy,
                                             learningRate: Double(metrics.learningRate), seconds: metrics.seconds)
                    emit(SupervisedEvent(kind: .epoch, progress: state, epoch: phase == "teacher" ? nil : record))
                case let .checkpoint(path):
                    log("checkpoint \(path)")
                }
            case let .evaluation(attack, batch, batches):
                var state = JobProgress(phase: "evaluation")
                state.detail = "\(attack): batch \(batch) of \(batches)"
                state.step = batch
                state.stepsPerEpoch = batches
                state.fraction = batches > 0 ? Double(batch) / Double(batches) : nil
                emit(SupervisedEvent(kind: .evaluation, progress: state))
            }
        }

        private func eta(_ fraction: Double) -> Double? {
            guard fraction > 0.001 else { return nil }
            return Date().timeIntervalSince(phaseStarted) * (1 - fraction) / fraction
        }

        private func emit(_ event: SupervisedEvent) {
            FileHandle.standardOutput.write(Wire.line(event))
        }
    }
}

/// A flag set from a signal handler's queue and read by the compute thread.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false
    func request() { lock.withLock { requested = true } }
    var isRequested: Bool { lock.withLock { requested } }
}
