import AdvProtocol

/// The job life cycle as one table: which event may move a job from which state to which, what it
/// does to the job's attempts, error and timestamps, and the line the job's history records. The store
/// applies a transition inside the transaction that reads the job's state, and the scheduler decides
/// which event to send (`RetryPolicy`); nothing else writes a job's state.
///
///     queued ──claim──────────────────────────▶ running ──succeed──▶ succeeded
///       │                                       ▲   │  ├──fail──▶ failed
///       └──handOver──▶ submitted ──start───────┘   │  ├──cancel──▶ cancelled  (also from queued, submitted)
///                          ▲─────────waitAgain──────┘  ├──interrupt──▶ interrupted ──resume──▶ queued
///                                                      ├──retryAfterCrash / requeue──▶ queued
///                                                      └──recordingFailed──▶ recording-failed
///     queued ──fail──▶ failed  (its folder cannot be prepared)
///     failed, cancelled, recording-failed ──retry──▶ queued
public enum JobLifecycle {
    /// What happened to a job.
    public enum Event: Equatable, Sendable {
        /// A worker takes the job and starts it here: an attempt begins.
        case claim
        /// An executor (a cluster) takes the job; it starts later, on its own time: an attempt begins.
        case handOver
        /// A handed-over job starts running.
        case start
        /// The cluster put a running job back in its own queue (a preemption, `scontrol requeue`): it
        /// waits there to resume from its last checkpoint, in the same attempt.
        case waitAgain(reason: String)
        /// The run ended with results, recorded in the same transaction.
        case succeed
        /// The run cannot succeed as it is (its experiment is wrong, or it crashed too often).
        case fail(reason: String)
        /// A user cancelled it.
        case cancel
        /// The daemon is stopping: the job saved its progress and stopped. The attempt is given back.
        case interrupt
        /// The daemon started again: an interrupted job goes back to the queue to resume.
        case resume
        /// The run crashed (killed, out of memory) and may resume from its checkpoint; the attempt counts.
        case retryAfterCrash(cause: String)
        /// The run stopped through no fault of its own (its daemon died, or a signal from outside
        /// stopped it with its progress saved); back to the queue, the attempt given back.
        case requeue(reason: String)
        /// The run ended but its end could not be written (the database refused the results).
        case recordingFailed(reason: String)
        /// A user asks for a failed, cancelled or unrecorded job to run again, with a fresh count of attempts.
        case retry

        /// The event's name, as the user would say it.
        public var name: String {
            switch self {
            case .claim: return "start"
            case .handOver: return "hand over to the executor"
            case .start: return "start"
            case .waitAgain: return "put back in the cluster's queue"
            case .succeed: return "succeed"
            case .fail: return "fail"
            case .cancel: return "cancel"
            case .interrupt: return "interrupt"
            case .resume: return "resume"
            case .retryAfterCrash: return "retry after a crash"
            case .requeue: return "queue again"
            case .recordingFailed: return "record as unrecorded"
            case .retry: return "retry"
            }
        }
    }

    /// What a transition does to the attempt counter.
    public enum AttemptChange: Equatable, Sendable {
        case keep
        /// An attempt begins.
        case begin
        /// The attempt that was running does not count (the job was not at fault).
        case giveBack
        /// A retry by hand starts counting again.
        case reset
    }

    /// What a transition does to the job's error text.
    public enum ErrorChange: Equatable, Sendable {
        case keep
        case clear
        case set(String)
    }

    /// One allowed transition and its effects.
    public struct Transition: Equatable, Sendable {
        public let from: JobState
        public let to: JobState
        public let attempts: AttemptChange
        public let error: ErrorChange
        /// Whether `started_at` is set to now (an attempt begins running here).
        public let marksStart: Bool
        /// The line recorded in the job's history.
        public let message: String

        /// Whether `finished_at` is set to now (else cleared: the job is live again).
        public var marksFinish: Bool { to.isFinished }
    }

    /// An event that the job's current state does not allow; the message names both.
    public struct IllegalTransition: Error, Equatable, CustomStringConvertible, Sendable {
        public let job: Int64?
        public let state: JobState
        public let event: Event

        public init(job: Int64?, state: JobState, event: Event) {
            self.job = job
            self.state = state
            self.event = event
        }

        public var description: String {
            let subject = job.map { "job \($0)" } ?? "a job"
            let allowed = JobLifecycle.states(allowing: event).map(\.rawValue)
            return "\(subject) is \(state.rawValue); cannot \(event.name) it (only a job that is \(Self.list(allowed)) can be)"
        }

        private static func list(_ names: [String]) -> String {
            names.count <= 1 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
        }
    }

    /// The transition `event` causes in `state`.
    /// - Throws: `IllegalTransition` naming the state and the event when the state does not allow it.
    public static func transition(from state: JobState, on event: Event, job: Int64? = nil) throws -> Transition {
        func to(_ next: JobState, attempts: AttemptChange = .keep, error: ErrorChange = .keep, marksStart: Bool = false,
                _ message: String) -> Transition {
            Transition(from: state, to: next, attempts: attempts, error: error, marksStart: marksStart, message: message)
        }
        switch (state, event) {
        case (.queued, .claim): return to(.running, attempts: .begin, error: .clear, marksStart: true, "running")
        case (.queued, .handOver): return to(.submitted, attempts: .begin, error: .clear, "submitted to the executor")
        case (.submitted, .start): return to(.running, marksStart: true, "running")
        case (.running, .waitAgain(let reason)):
            return to(.submitted, "\(reason); waits in the cluster's queue to resume from its last checkpoint")
        case (.running, .succeed): return to(.succeeded, error: .clear, "succeeded")
        case (.running, .fail(let reason)), (.submitted, .fail(let reason)), (.queued, .fail(let reason)):
            return to(.failed, error: .set(reason), "failed: \(reason)")
        case (.queued, .cancel): return to(.cancelled, error: .set("cancelled while queued"), "cancelled while queued")
        case (.submitted, .cancel), (.running, .cancel):
            return to(.cancelled, error: .set("cancelled while \(state.rawValue)"), "cancelled while \(state.rawValue)")
        case (.running, .interrupt), (.submitted, .interrupt):
            return to(.interrupted, attempts: .giveBack, error: .clear, "interrupted with its progress saved (the daemon is stopping)")
        case (.interrupted, .resume): return to(.queued, "queued again to resume from its last checkpoint")
        case (.running, .retryAfterCrash(let cause)), (.submitted, .retryAfterCrash(let cause)):
            return to(.queued, error: .set(cause), "\(cause); queued again to resume from its last checkpoint")
        case (.running, .requeue(let reason)), (.submitted, .requeue(let reason)):
            return to(.queued, attempts: .giveBack, "\(reason); queued again to resume from its last checkpoint")
        case (.running, .recordingFailed(let reason)), (.submitted, .recordingFailed(let reason)):
            return to(.recordingFailed, error: .set(reason), "ended, but could not be recorded: \(reason)")
        case (.failed, .retry), (.cancelled, .retry), (.recordingFailed, .retry):
            return to(.queued, attempts: .reset, error: .clear, "queued again (retry)")
        default:
            throw IllegalTransition(job: job, state: state, event: event)
        }
    }

    /// The states in which `event` is allowed, in the order of `JobState.allCases`.
    public static func states(allowing event: Event) -> [JobState] {
        JobState.allCases.filter { (try? transition(from: $0, on: event)) != nil }
    }
}
