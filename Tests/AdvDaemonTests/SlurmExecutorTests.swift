import AdvDaemon
import AdvProtocol
import AdvTestSupport
import Foundation
import Testing

/// The Slurm executor's pure parts: its settings, what it gives sbatch, how it reads squeue --json, what
/// each look at a job means for its life cycle and what each Slurm end means. The integration tests run
/// them against a real one-node cluster.
@Suite struct SlurmExecutorTests {
    static let job = JobInfo(id: 42, name: "pgd-at", ownerUID: 0, priority: 0, labels: [], state: .queued, attempts: 1,
                             source: "advctl", submittedAt: Date(), outputFolder: "/srv/advd/jobs/42")
    static let request = RunRequest(job: job, manifestPath: "/srv/advd/jobs/42/pgd-at.yaml", folder: "/srv/advd/jobs/42", threads: 4,
                                    jobsFolder: "/srv/advd/jobs", readRoots: ["/data/it's"])

    @Test func theSlurmSectionIsReadWithEveryKeyAndItsErrorsNamed() throws {
        let parsed = try DaemonConfiguration.parse(yaml: """
            executor: slurm
            workers: 64
            threads_per_job: 8
            slurm:
              shared_folder: /srv/advd
              advd_path: /opt/advd/bin/advd
              partition: cpu
              account: robustness
              qos: normal
              time_limit: "1-04:00:00"
              cpus_per_job: 16
              memory_per_job: 32G
              extra_sbatch_args: ["--constraint=avx512", "--exclusive"]
              max_submitted: 20
              poll_seconds: 5
              signal_seconds: 120
              slurm_conf: /etc/slurm/slurm.conf
            """, source: "advd.yaml")
        // a cluster's jobs do not share this machine's cores: 64 × 8 is not an oversubscription
        #expect(parsed.executor == .slurm && parsed.jobsFolder == "/srv/advd/jobs")
        let slurm = try #require(parsed.slurm)
        #expect(slurm.advdPath == "/opt/advd/bin/advd" && slurm.partition == "cpu" && slurm.account == "robustness" && slurm.qos == "normal")
        #expect(slurm.timeLimit == "1-04:00:00" && slurm.cpusPerJob == 16 && slurm.memoryPerJob == "32G")
        #expect(slurm.extraSbatchArguments == ["--constraint=avx512", "--exclusive"])
        #expect(slurm.maxSubmitted == 20 && slurm.pollSeconds == 5 && slurm.signalSeconds == 120 && slurm.slurmConf == "/etc/slurm/slurm.conf")
        #expect(DaemonConfiguration().executor == .local && DaemonConfiguration().jobsFolder == "/var/lib/advd/jobs")

        func expectFailure(_ yaml: String, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            expectError(containing: fragments, sourceLocation: sourceLocation) { _ = try DaemonConfiguration.parse(yaml: yaml, source: "advd.yaml") }
        }
        expectFailure("executor: slurm\n", ["advd.yaml: executor: executor: slurm needs a slurm section"])
        expectFailure("executor: pbs\n", ["executor: expected one of local, slurm"])
        expectFailure("slurm: {partition: cpu}\n", ["slurm", "shared_folder"])
        expectFailure("slurm: {shared_folder: srv}\n", ["slurm.shared_folder: expected an absolute path"])
        expectFailure("slurm: {shared_folder: /s, time_limit: 4h}\n", ["slurm.time_limit: expected a Slurm time limit", "\"4h\""])
        expectFailure("slurm: {shared_folder: /s, partition: \"a b\"}\n", ["slurm.partition: expected a Slurm name"])
        expectFailure("slurm: {shared_folder: /s, memory_per_job: lots}\n", ["slurm.memory_per_job: expected a size"])
        expectFailure("slurm: {shared_folder: /s, extra_sbatch_args: [\"--output=/tmp/x\"]}\n",
                      ["slurm.extra_sbatch_args[0]: --output=/tmp/x: advd sets this option itself"])
        expectFailure("slurm: {shared_folder: /s, extra_sbatch_args: [exclusive]}\n", ["expected an sbatch option"])
        expectFailure("slurm: {shared_folder: /s, poll_second: 5}\n", ["slurm.poll_second: unknown key", "did you mean poll_seconds?"])
    }

    @Test func timeLimitsInSlurmsFormats() {
        for valid in ["30", "30:00", "4:00:00", "1-0", "1-04:00", "2-04:00:00"] { #expect(SlurmSettings.isTimeLimit(valid), "\(valid)") }
        for invalid in ["", "4h", "1:2:3:4", "-1", "1-", "a-1"] { #expect(!SlurmSettings.isTimeLimit(invalid), "\(invalid)") }
    }

    @Test func aSubmissionIsNumberedRunsAdvdInTheJobFolderAndAsksForAnEarlySignal() {
        var settings = SlurmSettings(sharedFolder: "/srv/advd")
        settings.partition = "cpu"
        settings.timeLimit = "2:00:00"
        settings.memoryPerJob = "8G"
        settings.extraSbatchArguments = ["--constraint=avx512"]
        let submission = SlurmSubmission(request: Self.request, submission: 2, settings: settings, advdPath: "/opt/advd", unsetKernelChoice: true)
        #expect(submission.jobName == "advd-42-2")
        #expect(submission.arguments == [
            "--parsable", "--job-name=advd-42-2", "--chdir=/srv/advd/jobs/42", "--output=/srv/advd/jobs/42/job.log", "--open-mode=append",
            "--cpus-per-task=4", "--ntasks=1", "--requeue", "--signal=B:TERM@300", "--partition=cpu", "--time=2:00:00", "--mem=8G",
            "--constraint=avx512", "/srv/advd/jobs/42/slurm-job.sh"])
        let lines = submission.script.split(separator: "\n").map(String.init)
        #expect(lines.first == "#!/bin/sh")
        #expect(lines.contains("unset OPENBLAS_CORETYPE ADVD_KERNEL_FALLBACK"))
        // exec: advd is the batch shell itself, so Slurm's SIGTERM reaches it
        #expect(lines.last == "exec '/opt/advd' 'run' '/srv/advd/jobs/42/pgd-at.yaml' '--out' '/srv/advd/jobs/42' '--threads' '4' '--supervised' "
                + "'--jobs-folder' '/srv/advd/jobs' '--read-root' '/data/it'\\''s' '--events-file' '/srv/advd/jobs/42/events.jsonl'")
        let pinned = SlurmSubmission(request: Self.request, submission: 1, settings: settings, advdPath: "/opt/advd", unsetKernelChoice: false)
        #expect(!pinned.script.contains("unset"))
    }

    @Test func sbatchsParsableOutputGivesTheJobID() {
        #expect(SlurmSubmission.parseJobID("1234\n") == "1234")
        #expect(SlurmSubmission.parseJobID("1234;cluster2\n") == "1234")
        #expect(SlurmSubmission.parseJobID("sbatch: error: invalid partition\n") == nil)
        #expect(SlurmSubmission.parseJobID("") == nil)
    }

    /// squeue --json as Slurm 22.05 prints it (fields trimmed), with a field of an unexpected type.
    @Test func squeueJSONIsReadAndEachStateMeansSomething() throws {
        let queue = try SlurmQueue.parse("""
            {"meta": {"plugin": {"type": "openapi/v0.0.38"}}, "errors": [], "jobs": [
              {"job_id": 7, "name": "advd-3-1", "job_state": "PENDING", "state_reason": "Priority", "partition": "debug", "nodes": "",
               "exit_code": 0, "restart_cnt": 0, "current_working_directory": "/srv/advd/jobs/3", "time_limit": null},
              {"job_id": 8, "name": "advd-4-2", "job_state": "FAILED", "state_reason": "NonZeroExitCode", "partition": "debug",
               "nodes": "localhost", "exit_code": 19200, "restart_cnt": 1, "current_working_directory": "/srv/advd/jobs/4"},
              {"job_id": 9, "name": "other", "job_state": "RUNNING", "exit_code": {"unexpected": true}}
            ]}
            """)
        #expect(queue.jobs.count == 3)
        #expect(queue.jobs[0] == SlurmJob(jobID: 7, name: "advd-3-1", state: "PENDING", reason: "Priority", partition: "debug", nodes: nil,
                                          exitCode: 0, restarts: 0, workingDirectory: "/srv/advd/jobs/3"))
        #expect(queue.jobs[0].stateText == "PENDING (Priority)" && queue.jobs[0].phase == .waiting)
        #expect(queue.jobs[1].phase == .ended(.exited) && queue.jobs[1].exitCode == 75 << 8)
        #expect(queue.jobs[2].phase == .running && queue.jobs[2].exitCode == nil && queue.jobs[2].stateText == "RUNNING")
        expectError(containing: ["cannot read squeue --json's output", "squeue: error"]) { _ = try SlurmQueue.parse("squeue: error: …") }

        #expect(SlurmPhase(state: "REQUEUED") == .waiting && SlurmPhase(state: "COMPLETING") == .running)
        #expect(SlurmJob(jobID: 7, name: "", state: "COMPLETING").isWindingDown)
        #expect(!SlurmJob(jobID: 7, name: "", state: "RUNNING").isWindingDown)
        #expect(SlurmPhase(state: "TIMEOUT") == .ended(.stopped(cause: "reached its Slurm time limit")))
        #expect(SlurmPhase(state: "NODE_FAIL") == .ended(.stopped(cause: "lost its node (Slurm NODE_FAIL)")))
        #expect(SlurmPhase(state: "CANCELLED") == .ended(.cancelled))
        #expect(SlurmPhase(state: "OUT_OF_MEMORY") == .ended(.outOfMemory))
    }

    /// The reports of a sequence of looks at one job, with its requeue count and node, from a fresh submission.
    static func looks(_ states: [(state: String, restarts: Int)], from tracking: SlurmJobTracking = SlurmJobTracking(lastRestarts: 0))
        -> [[ExecutorReport]] {
        var tracking = tracking
        return states.map { look in
            let phase = SlurmPhase(state: look.state)
            let nodes = phase == .waiting ? nil : "localhost"
            return tracking.observe(SlurmJob(jobID: 7, name: "advd-3-1", state: look.state, partition: "debug", nodes: nodes,
                                             exitCode: 0, restarts: look.restarts), cancelRequested: false)
        }
    }

    @Test func aRequeueIsSeenOnceWhetherItsFirstLookFindsTheOldRunStoppingOrTheJobBackInTheQueue() {
        let started = ExecutorReport.started(node: "localhost")
        func state(_ text: String, node: String? = "localhost") -> ExecutorReport { .clusterState(node: node, partition: "debug", state: text) }
        func putBack(_ text: String) -> ExecutorReport { .waiting(reason: "Slurm put it back in its queue (\(text), restart 1)", clusterState: text) }
        // a requeue first seen while Slurm still stops the old run (COMPLETING, on a loaded node): back in
        // the queue at once, and not running again until Slurm runs it again
        #expect(Self.looks([("PENDING", 0), ("RUNNING", 0), ("COMPLETING", 1), ("COMPLETING", 1), ("PENDING", 1), ("RUNNING", 1),
                            ("COMPLETED", 1)]) == [
            [state("PENDING", node: nil)], [started, state("RUNNING")], [putBack("COMPLETING"), state("COMPLETING")], [],
            [state("PENDING", node: nil)], [started, state("RUNNING")], [state("COMPLETED"), .ended(.exited(.exited(0)))],
        ])
        // the same requeue first seen back in the queue
        #expect(Self.looks([("RUNNING", 0), ("PENDING", 1), ("RUNNING", 1)]) == [
            [started, state("RUNNING")], [putBack("PENDING")], [started, state("RUNNING")],
        ])
        // ran, went back and runs again between two looks: it ran once unseen, then runs
        #expect(Self.looks([("PENDING", 0), ("RUNNING", 1)]) == [
            [state("PENDING", node: nil)], [started, putBack("RUNNING"), started, state("RUNNING")],
        ])
        // a short job whose first running look finds its script done: it starts and ends at its end
        #expect(Self.looks([("PENDING", 0), ("COMPLETING", 0), ("COMPLETED", 0)]) == [
            [state("PENDING", node: nil)], [state("COMPLETING")], [started, state("COMPLETED"), .ended(.exited(.exited(0)))],
        ])
        // an adopted job's requeue count is unknown before its first look: a restart count is no news
        #expect(Self.looks([("RUNNING", 3)], from: SlurmJobTracking(isRunning: true, lastRestarts: nil, lastState: "RUNNING")) == [[]])
    }

    @Test func aJobSlurmForgotEndsOnceAndStartsFirstIfNoLookSawItRun() {
        let end = RunEnd.decided(.stoppedByCluster(cause: "left Slurm's queue (job 7) without reporting an end"))
        #expect(SlurmJobTracking(isRunning: true, lastRestarts: 0).vanished(ending: end) == [.ended(end)])
        #expect(SlurmJobTracking(lastRestarts: 0).vanished(ending: end) == [.started(node: nil), .ended(end)])
    }

    @Test func aSlurmEndBecomesAnOutcome() {
        // the early signal before the time limit: advd checkpointed and exited 75
        #expect(SlurmEnd.exited.runEnd(exitCode: 75 << 8, cancelRequested: false)
                == .decided(.stoppedByCluster(cause: "stopped on Slurm's warning signal (its time limit or a preemption was near), with its progress saved")))
        #expect(SlurmEnd.exited.runEnd(exitCode: 75 << 8, cancelRequested: true) == .exited(.exited(75)))
        #expect(SlurmEnd.exited.runEnd(exitCode: 0, cancelRequested: false) == .exited(.exited(0)))
        #expect(SlurmEnd.exited.runEnd(exitCode: 65 << 8, cancelRequested: false) == .exited(.exited(65)))
        #expect(SlurmEnd.exited.runEnd(exitCode: 9, cancelRequested: false) == .exited(.signaled(9)))
        #expect(SlurmEnd.cancelled.runEnd(exitCode: 0, cancelRequested: false)
                == .decided(.cancelledInCluster(reason: "cancelled in Slurm (scancel), not through advd")))
        #expect(SlurmEnd.stopped(cause: "was preempted by Slurm").runEnd(exitCode: 0, cancelRequested: false)
                == .decided(.stoppedByCluster(cause: "was preempted by Slurm")))
        #expect(SlurmEnd.outOfMemory.runEnd(exitCode: 0, cancelRequested: false)
                == .decided(.crashed(cause: "ran out of memory (Slurm OUT_OF_MEMORY; raise slurm.memory_per_job)")))
    }

    @Test func theEventsFileIsReadLineByLineAsItGrows() throws {
        let folder = TemporaryFolder()
        var tail = EventsFileTail(path: folder.file("events.jsonl"))
        #expect(tail.readNew().isEmpty)   // not written yet
        let first = try Wire.encodeLine(JobEventLine(.checkpoint(path: "c1")))
        let second = try Wire.encodeLine(JobEventLine(.failed(reason: "no data")))
        try (first + second.prefix(10)).write(to: URL(fileURLWithPath: tail.path))
        let read = tail.readNew()
        #expect(read.count == 1 && (try? read[0].get()) == .checkpoint(path: "c1"))
        #expect(tail.sawFailure == nil)
        let handle = try #require(FileHandle(forWritingAtPath: tail.path))
        try handle.seekToEnd()
        try handle.write(contentsOf: second.dropFirst(10) + Data("garbage\n".utf8))
        try handle.close()
        let rest = tail.readNew()
        #expect(rest.count == 2 && (try? rest[0].get()) == .failed(reason: "no data"))
        if case .success = rest[1] { Issue.record("a line that is not an event is reported as unreadable") }
        #expect(tail.sawFailure == "no data" && !tail.sawFinished)
    }
}
