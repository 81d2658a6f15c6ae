#if canImport(Glibc)
import Glibc
#endif

/// How one run of a job ended, as the daemon saw it: the process's exit and what the job reported.
public enum JobOutcome: Equatable, Sendable {
    /// It finished and wrote its results.
    case succeeded
    /// It stopped on SIGTERM with its progress saved.
    case stoppedWithProgressSaved
    /// It exited because its daemon went away (its stdin closed).
    case orphaned
    /// Its experiment cannot succeed as it is (bad data, diverged training), with the reason it gave.
    case failed(reason: String)
    /// It died without saying why: a signal, or an exit status of no meaning to advd.
    case crashed(cause: String)
    /// The cluster ended it through no fault of the experiment (its time limit, a preemption, a node
    /// failure); it resumes from its last checkpoint, and the attempt counts.
    case stoppedByCluster(cause: String)
    /// Someone cancelled it in the cluster (`scancel`), not through advd.
    case cancelledInCluster(reason: String)

    /// The outcome of a supervised run from its wait status and the failure reason it reported (its
    /// `failed` event; nil when it sent none).
    public init(waitStatus: WaitStatus, reportedFailure: String?) {
        switch waitStatus {
        case .exited(SupervisedRun.ExitStatus.succeeded.rawValue): self = .succeeded
        case .exited(SupervisedRun.ExitStatus.interrupted.rawValue): self = .stoppedWithProgressSaved
        case .exited(SupervisedRun.ExitStatus.orphaned.rawValue): self = .orphaned
        case .exited(SupervisedRun.ExitStatus.failed.rawValue):
            self = .failed(reason: reportedFailure ?? "the run failed without giving a reason (see its log)")
        case let .signaled(signal) where signal == SIGKILL:
            self = .crashed(cause: "killed by SIGKILL (out of memory, or killed by hand)")
        case let .signaled(signal):
            self = .crashed(cause: "crashed with signal \(signal) (\(String(cString: strsignal(signal))))")
        case let .exited(code):
            self = .crashed(cause: "exited with status \(code)")
        }
    }
}

/// Decides what a run's end means for its job: a pure function of the outcome, the attempts made, the
/// configured limit and what the daemon and the user asked for. The scheduler applies the answer as a
/// life-cycle event.
public struct RetryPolicy: Equatable, Sendable {
    /// The most times a crashing job is started before it is failed.
    public var maxAttempts: Int

    public init(maxAttempts: Int) {
        self.maxAttempts = maxAttempts
    }

    /// The life-cycle event for a run that ended with `outcome`.
    /// - Parameters:
    ///   - attempts: the attempts made so far, the one that just ended included.
    ///   - cancelRequested: a user asked to cancel the job while it ran.
    ///   - daemonStopping: the daemon is shutting down (it stopped the job itself).
    public func event(after outcome: JobOutcome, attempts: Int, cancelRequested: Bool, daemonStopping: Bool) -> JobLifecycle.Event {
        switch outcome {
        case .succeeded:
            return .succeed   // it finished before the cancellation reached it: its results stand
        case _ where cancelRequested:
            return .cancel
        case .failed(let reason):
            return .fail(reason: reason)
        case .stoppedWithProgressSaved where daemonStopping, .orphaned where daemonStopping, .crashed where daemonStopping:
            // the daemon ended the run itself: SIGTERM (before the job could catch it, for a crash), or
            // SIGKILL after the stop timeout; it resumes from its last checkpoint at the next start
            return .interrupt
        case .stoppedWithProgressSaved:
            return .requeue(reason: "stopped by a signal from outside the daemon, with its progress saved")
        case .orphaned:
            return .requeue(reason: "lost its daemon")
        case .cancelledInCluster:
            return .cancel
        case .crashed(let cause) where attempts < maxAttempts, .stoppedByCluster(let cause) where attempts < maxAttempts:
            return .retryAfterCrash(cause: "\(cause); attempt \(attempts) of \(maxAttempts)")
        case .crashed(let cause), .stoppedByCluster(let cause):
            return .fail(reason: "\(cause), \(attempts) \(attempts == 1 ? "time" : "times")")
        }
    }
}
