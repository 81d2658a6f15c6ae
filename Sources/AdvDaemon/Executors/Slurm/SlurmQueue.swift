import Foundation

/// One job as `squeue --json` describes it (Slurm's OpenAPI format, v0.0.38 in Slurm 22.05): only the
/// fields advd reads, each optional so that another Slurm release's additions or omissions do not stop it.
public struct SlurmJob: Decodable, Equatable, Sendable {
    public var jobID: Int
    public var name: String
    public var state: String
    public var reason: String?
    public var partition: String?
    public var nodes: String?
    /// The batch script's wait status (`exit_code` is `status << 8` for an exit).
    public var exitCode: Int32?
    public var restarts: Int?
    public var workingDirectory: String?

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", name, state = "job_state", reason = "state_reason", partition, nodes, exitCode = "exit_code"
        case restarts = "restart_cnt", workingDirectory = "current_working_directory"
    }

    public init(jobID: Int, name: String, state: String, reason: String? = nil, partition: String? = nil, nodes: String? = nil,
         exitCode: Int32? = nil, restarts: Int? = nil, workingDirectory: String? = nil) {
        self.jobID = jobID
        self.name = name
        self.state = state
        self.reason = reason
        self.partition = partition
        self.nodes = nodes
        self.exitCode = exitCode
        self.restarts = restarts
        self.workingDirectory = workingDirectory
    }

    public init(from decoder: any Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        jobID = try values.decode(Int.self, forKey: .jobID)
        name = try values.decodeIfPresent(String.self, forKey: .name) ?? ""
        state = try values.decodeIfPresent(String.self, forKey: .state) ?? "UNKNOWN"
        reason = try values.decodeIfPresent(String.self, forKey: .reason)
        partition = try values.decodeIfPresent(String.self, forKey: .partition)
        nodes = try values.decodeIfPresent(String.self, forKey: .nodes).flatMap { $0.isEmpty ? nil : $0 }
        exitCode = try? values.decodeIfPresent(Int32.self, forKey: .exitCode)
        restarts = try? values.decodeIfPresent(Int.self, forKey: .restarts)
        workingDirectory = try values.decodeIfPresent(String.self, forKey: .workingDirectory)
    }

    /// `PENDING (Priority)`: Slurm's state and reason as `squeue` shows them.
    public var stateText: String {
        guard let reason, !reason.isEmpty, reason != "None" else { return state }
        return "\(state) (\(reason))"
    }

    /// What the job's state means for advd.
    public var phase: SlurmPhase { SlurmPhase(state: state) }

    /// A run winding down (COMPLETING): its script has ended, or a requeue is stopping it. `phase` files
    /// it under running, but it is never a run's start.
    public var isWindingDown: Bool { state == "COMPLETING" }
}

/// The jobs of one `squeue --json`.
public struct SlurmQueue: Decodable, Sendable {
    public var jobs: [SlurmJob]

    /// Reads `squeue --json`'s output.
    /// - Throws: an error naming what could not be read.
    public static func parse(_ text: String) throws -> SlurmQueue {
        do { return try JSONDecoder().decode(SlurmQueue.self, from: Data(text.utf8)) } catch {
            throw SlurmCommand.Failure(description: "cannot read squeue --json's output (\(text.prefix(120))): \(error)")
        }
    }
}

/// A Slurm job state as the life cycle sees it.
public enum SlurmPhase: Equatable, Sendable {
    /// In the queue, not running (PENDING, REQUEUED, held, suspended before start).
    case waiting
    /// Running (RUNNING, COMPLETING, CONFIGURING, or SUSPENDED/STOPPED while running).
    case running
    /// Over: with what it means for the job.
    case ended(SlurmEnd)

    public init(state: String) {
        switch state {
        case "PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT": self = .waiting
        case "RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING": self = .running
        case "COMPLETED", "FAILED": self = .ended(.exited)
        case "CANCELLED": self = .ended(.cancelled)
        case "TIMEOUT": self = .ended(.stopped(cause: "reached its Slurm time limit"))
        case "PREEMPTED": self = .ended(.stopped(cause: "was preempted by Slurm"))
        case "NODE_FAIL": self = .ended(.stopped(cause: "lost its node (Slurm NODE_FAIL)"))
        case "BOOT_FAIL": self = .ended(.stopped(cause: "its node failed to boot (Slurm BOOT_FAIL)"))
        case "OUT_OF_MEMORY": self = .ended(.outOfMemory)
        case "DEADLINE": self = .ended(.deadline)
        default: self = .ended(.stopped(cause: "ended in Slurm state \(state)"))
        }
    }
}

/// How a Slurm job ended.
public enum SlurmEnd: Equatable, Sendable {
    /// Its batch script exited (COMPLETED or FAILED): the exit status tells.
    case exited
    case cancelled
    /// Through no fault of the experiment: it resumes from its last checkpoint.
    case stopped(cause: String)
    case outOfMemory
    case deadline

    /// What this end means for advd: the batch script's wait status `exitCode`, read with the job's
    /// own events, or an outcome decided here.
    public func runEnd(exitCode: Int32, cancelRequested: Bool) -> RunEnd {
        switch self {
        case .exited:
            let status = WaitStatus(exitCode)
            if status == .exited(SupervisedRun.ExitStatus.interrupted.rawValue) && !cancelRequested {
                return .decided(.stoppedByCluster(cause: "stopped on Slurm's warning signal (its time limit or a preemption was near), with its progress saved"))
            }
            return .exited(status)
        case .cancelled:
            return .decided(.cancelledInCluster(reason: "cancelled in Slurm (scancel), not through advd"))
        case .stopped(let cause):
            return .decided(.stoppedByCluster(cause: cause))
        case .outOfMemory:
            return .decided(.crashed(cause: "ran out of memory (Slurm OUT_OF_MEMORY; raise slurm.memory_per_job)"))
        case .deadline:
            return .decided(.failed(reason: "reached its Slurm deadline"))
        }
    }
}
