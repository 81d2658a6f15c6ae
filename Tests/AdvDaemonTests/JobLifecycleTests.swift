import AdvDaemon
import AdvProtocol
import Testing

/// The life cycle, transition by transition: every allowed move with its effects, and every other
/// (state, event) pair refused with both named.
@Suite struct JobLifecycleTests {
    typealias Event = JobLifecycle.Event

    /// Every event once, with a payload where it takes one.
    static let events: [Event] = [.claim, .handOver, .start, .succeed, .fail(reason: "r"), .cancel, .interrupt, .resume,
                                  .retryAfterCrash(cause: "c"), .requeue(reason: "q"), .recordingFailed(reason: "w"), .retry,
                                  .waitAgain(reason: "p")]

    /// The whole table: (from, event) → to. Any pair not listed must be refused.
    static let allowed: [(JobState, Event, JobState)] = [
        (.queued, .claim, .running), (.queued, .handOver, .submitted), (.queued, .cancel, .cancelled), (.queued, .fail(reason: "r"), .failed),
        (.submitted, .start, .running), (.submitted, .fail(reason: "r"), .failed), (.submitted, .cancel, .cancelled),
        (.submitted, .interrupt, .interrupted), (.submitted, .retryAfterCrash(cause: "c"), .queued),
        (.submitted, .requeue(reason: "q"), .queued), (.submitted, .recordingFailed(reason: "w"), .recordingFailed),
        (.running, .succeed, .succeeded), (.running, .fail(reason: "r"), .failed), (.running, .cancel, .cancelled),
        (.running, .interrupt, .interrupted), (.running, .retryAfterCrash(cause: "c"), .queued),
        (.running, .requeue(reason: "q"), .queued), (.running, .recordingFailed(reason: "w"), .recordingFailed),
        (.running, .waitAgain(reason: "p"), .submitted),
        (.interrupted, .resume, .queued),
        (.failed, .retry, .queued), (.cancelled, .retry, .queued), (.recordingFailed, .retry, .queued),
    ]

    @Test(arguments: JobState.allCases)
    func everyPairIsEitherInTheTableOrRefused(state: JobState) throws {
        for event in Self.events {
            let expected = Self.allowed.first { $0.0 == state && $0.1 == event }?.2
            if let expected {
                #expect(try JobLifecycle.transition(from: state, on: event).to == expected, "\(state) on \(event)")
            } else {
                #expect(throws: JobLifecycle.IllegalTransition.self, "\(state) on \(event) should be refused") {
                    try JobLifecycle.transition(from: state, on: event)
                }
            }
        }
    }

    @Test func anIllegalTransitionNamesTheJobItsStateAndTheEvent() {
        let error = JobLifecycle.IllegalTransition(job: 7, state: .succeeded, event: .cancel)
        #expect(error.description == "job 7 is succeeded; cannot cancel it (only a job that is queued, submitted or running can be)")
        let retry = JobLifecycle.IllegalTransition(job: 3, state: .queued, event: .retry)
        #expect(retry.description == "job 3 is queued; cannot retry it (only a job that is failed, cancelled or recording-failed can be)")
    }

    @Test func attemptsBeginWhenAJobStartsAndComeBackWhenItWasNotAtFault() throws {
        #expect(try JobLifecycle.transition(from: .queued, on: .claim).attempts == .begin)
        #expect(try JobLifecycle.transition(from: .queued, on: .handOver).attempts == .begin)
        #expect(try JobLifecycle.transition(from: .submitted, on: .start).attempts == .keep)   // same attempt, now running
        #expect(try JobLifecycle.transition(from: .running, on: .waitAgain(reason: "p")).attempts == .keep)   // the cluster requeued the same attempt
        #expect(try JobLifecycle.transition(from: .running, on: .interrupt).attempts == .giveBack)
        #expect(try JobLifecycle.transition(from: .running, on: .requeue(reason: "q")).attempts == .giveBack)
        #expect(try JobLifecycle.transition(from: .running, on: .retryAfterCrash(cause: "c")).attempts == .keep)
        #expect(try JobLifecycle.transition(from: .interrupted, on: .resume).attempts == .keep)
        #expect(try JobLifecycle.transition(from: .failed, on: .retry).attempts == .reset)
    }

    @Test func errorsAndTimestampsFollowTheState() throws {
        let failed = try JobLifecycle.transition(from: .running, on: .fail(reason: "data missing"))
        #expect(failed.error == .set("data missing") && failed.marksFinish && failed.message == "failed: data missing")
        let claimed = try JobLifecycle.transition(from: .queued, on: .claim)
        #expect(claimed.error == .clear && claimed.marksStart && !claimed.marksFinish)
        let crashed = try JobLifecycle.transition(from: .running, on: .retryAfterCrash(cause: "killed by SIGKILL"))
        #expect(crashed.error == .set("killed by SIGKILL") && !crashed.marksFinish)   // shown while it waits to resume
        let unrecorded = try JobLifecycle.transition(from: .running, on: .recordingFailed(reason: "disk full"))
        #expect(unrecorded.to.isFinished && unrecorded.error == .set("disk full"))
        #expect(try JobLifecycle.transition(from: .recordingFailed, on: .retry).error == .clear)
    }
}
