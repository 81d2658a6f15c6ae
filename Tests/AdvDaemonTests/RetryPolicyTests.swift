import AdvDaemon
import Glibc
import Testing

/// The retry policy and the decoding of a run's end: pure functions, checked case by case.
@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(maxAttempts: 3)

    func event(_ outcome: JobOutcome, attempts: Int = 1, cancel: Bool = false, stopping: Bool = false) -> JobLifecycle.Event {
        policy.event(after: outcome, attempts: attempts, cancelRequested: cancel, daemonStopping: stopping)
    }

    @Test func aSuccessStandsEvenWhenACancellationCameTooLate() {
        #expect(event(.succeeded) == .succeed)
        #expect(event(.succeeded, cancel: true) == .succeed)
    }

    @Test func aRequestedCancellationWinsOverEveryOtherEnd() {
        for outcome: JobOutcome in [.stoppedWithProgressSaved, .orphaned, .failed(reason: "x"), .crashed(cause: "y")] {
            #expect(event(outcome, cancel: true) == .cancel, "\(outcome)")
        }
    }

    @Test func anExperimentFailureIsNeverRetried() {
        #expect(event(.failed(reason: "dataset folder missing"), attempts: 1) == .fail(reason: "dataset folder missing"))
    }

    @Test func aStoppedRunIsInterruptedWhenTheDaemonStopsAndQueuedAgainOtherwise() {
        #expect(event(.stoppedWithProgressSaved, stopping: true) == .interrupt)
        #expect(event(.orphaned, stopping: true) == .interrupt)
        // killed by the daemon's own SIGTERM before it could catch it, or by SIGKILL after the stop timeout
        #expect(event(.crashed(cause: "killed by SIGKILL"), attempts: 3, stopping: true) == .interrupt)
        #expect(event(.stoppedWithProgressSaved) == .requeue(reason: "stopped by a signal from outside the daemon, with its progress saved"))
        #expect(event(.orphaned) == .requeue(reason: "lost its daemon"))
    }

    @Test func aCrashIsRetriedUntilTheAttemptsRunOut() {
        let cause = "killed by SIGKILL (out of memory, or killed by hand)"
        #expect(event(.crashed(cause: cause), attempts: 1) == .retryAfterCrash(cause: "\(cause); attempt 1 of 3"))
        #expect(event(.crashed(cause: cause), attempts: 2) == .retryAfterCrash(cause: "\(cause); attempt 2 of 3"))
        #expect(event(.crashed(cause: cause), attempts: 3) == .fail(reason: "\(cause), 3 times"))
        #expect(RetryPolicy(maxAttempts: 1).event(after: .crashed(cause: "c"), attempts: 1, cancelRequested: false,
                                                  daemonStopping: false) == .fail(reason: "c, 1 time"))
    }

    @Test func aClusterStopResumesUntilTheAttemptsRunOutAndAnOutsideCancelCancels() {
        let cause = "reached its Slurm time limit"
        #expect(event(.stoppedByCluster(cause: cause), attempts: 2) == .retryAfterCrash(cause: "\(cause); attempt 2 of 3"))
        #expect(event(.stoppedByCluster(cause: cause), attempts: 3) == .fail(reason: "\(cause), 3 times"))
        #expect(event(.cancelledInCluster(reason: "scancel")) == .cancel)
    }

    @Test func exitStatusesAndSignalsDecodeToOutcomes() {
        #expect(JobOutcome(waitStatus: .exited(0), reportedFailure: nil) == .succeeded)
        #expect(JobOutcome(waitStatus: .exited(75), reportedFailure: nil) == .stoppedWithProgressSaved)
        #expect(JobOutcome(waitStatus: .exited(70), reportedFailure: nil) == .orphaned)
        #expect(JobOutcome(waitStatus: .exited(65), reportedFailure: "no data") == .failed(reason: "no data"))
        #expect(JobOutcome(waitStatus: .exited(65), reportedFailure: nil)
                == .failed(reason: "the run failed without giving a reason (see its log)"))
        #expect(JobOutcome(waitStatus: .exited(1), reportedFailure: nil) == .crashed(cause: "exited with status 1"))
        #expect(JobOutcome(waitStatus: .signaled(SIGKILL), reportedFailure: nil)
                == .crashed(cause: "killed by SIGKILL (out of memory, or killed by hand)"))
        guard case .crashed(let cause) = JobOutcome(waitStatus: .signaled(SIGSEGV), reportedFailure: nil) else {
            Issue.record("a segmentation fault is a crash")
            return
        }
        #expect(cause.hasPrefix("crashed with signal \(SIGSEGV) ("))
    }

    @Test func waitStatusesDecodeAsWaitpidEncodesThem() {
        #expect(WaitStatus(0x4100) == .exited(65))
        #expect(WaitStatus(9) == .signaled(9))
        #expect(WaitStatus(0x8b) == .signaled(11))   // core dumped: the 0x80 bit is not part of the signal
    }
}
