import AdvProtocol
import Foundation

/// Where jobs run. The scheduler decides what runs next (priority, then age) and records every
/// life-cycle transition; an executor runs what it is given and reports back. Two exist: `local`
/// (supervised child processes on the daemon's machine) and `slurm` (batch jobs on a cluster).
protocol JobExecutor: AnyObject {
    /// `local` or `slurm`: also the name the store keeps with the jobs a cluster holds.
    var name: String { get }
    /// How many jobs it may hold at once: workers for `local`, jobs in Slurm's queue for `slurm`.
    func capacity(under configuration: DaemonConfiguration) -> Int
    /// Whether a job it takes starts at once (the scheduler claims it: running) or is handed over to a
    /// queue of the executor's own (it stays queued until the executor reports `.submitted`).
    var startsJobsAtOnce: Bool { get }
    /// Whether its runs go on when the daemon stops (a cluster's do: the daemon adopts them when it
    /// starts again) rather than being checkpointed and stopped with it.
    var runsOutliveTheDaemon: Bool { get }
    /// What stops jobs from starting now (the cluster cannot be reached), for `advctl status`; nil when nothing does.
    var problem: String? { get }

    /// Starts a run of `request.job`; `report` is called on the scheduler's queue.
    /// - Throws: when the run cannot even be attempted (the local process cannot be spawned).
    func start(_ request: RunRequest, report: @escaping @Sendable (ExecutorReport) -> Void) throws -> any ExecutorRun
    /// Tracks again a job the store says this executor held when the daemon last stopped.
    func adopt(_ job: JobInfo, report: @escaping @Sendable (ExecutorReport) -> Void) -> (any ExecutorRun)?
    /// The daemon stops: no more reports.
    func shutdown()
}

/// One run of one job, as the executor holds it.
protocol ExecutorRun: AnyObject {
    /// The user cancelled the job: stop it for good.
    func cancel()
    /// The daemon stops: checkpoint and stop (local runs only).
    func stop()
    /// Stop now; the job resumes from its last checkpoint.
    func kill()
}

/// What the scheduler gives an executor to run.
public struct RunRequest: Sendable {
    /// The job, as the store has it (for a local run: just claimed).
    public let job: JobInfo
    /// The manifest, written into the job's folder.
    public let manifestPath: String
    public let folder: String
    public let threads: Int
    /// Where `job:<id>` weights are found, and the folders the job may read.
    public let jobsFolder: String
    public let readRoots: [String]

    public init(job: JobInfo, manifestPath: String, folder: String, threads: Int, jobsFolder: String, readRoots: [String]) {
        self.job = job
        self.manifestPath = manifestPath
        self.folder = folder
        self.threads = threads
        self.jobsFolder = jobsFolder
        self.readRoots = readRoots
    }

    /// `advd run`'s arguments for this job, after the executable.
    public var runArguments: [String] {
        ["run", manifestPath, "--out", folder, "--threads", String(threads), "--supervised", "--jobs-folder", jobsFolder]
            + readRoots.flatMap { ["--read-root", $0] }
    }
}

/// What an executor tells the scheduler about a run.
public enum ExecutorReport: Sendable, Equatable {
    /// A typed event the job wrote (its pipe, or its events file).
    case event(Result<JobEvent, JobEventError>)
    /// The cluster took the job and holds it in its queue.
    case submitted(ClusterPlacement)
    /// The job could not be handed to the cluster: it stays queued, and starts pause a while.
    case notSubmitted(reason: String)
    /// The job runs now (on `node`, in a cluster).
    case started(node: String?)
    /// The cluster put the running job back in its queue (a preemption, a requeue).
    case waiting(reason: String, clusterState: String)
    /// What the cluster says of the job (`PENDING (Priority)`), where it runs or ran, and in which partition.
    case clusterState(node: String?, partition: String?, state: String)
    /// The run is over.
    case ended(RunEnd)
}

/// How a run ended, as its executor saw it.
public enum RunEnd: Sendable, Equatable {
    /// The process exited with this status; the scheduler reads it with the failure reason the job reported.
    case exited(WaitStatus)
    /// The executor knows what it means already (a cluster's time limit, a node failure).
    case decided(JobOutcome)
}
