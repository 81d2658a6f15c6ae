import AdvProtocol
import Dispatch
import Foundation

/// Runs each job as a supervised child process on this machine (`JobProcess`), up to `workers` at once.
final class LocalExecutor: JobExecutor, @unchecked Sendable {
    let executable: String
    let queue: DispatchQueue

    /// - Parameters:
    ///   - executable: the advd binary jobs run with.
    ///   - queue: the scheduler's queue, where reports are delivered.
    init(executable: String, queue: DispatchQueue) {
        self.executable = executable
        self.queue = queue
    }

    let name = "local"
    let startsJobsAtOnce = true
    let runsOutliveTheDaemon = false
    let problem: String? = nil

    func capacity(under configuration: DaemonConfiguration) -> Int { configuration.resolvedWorkers }

    func start(_ request: RunRequest, report: @escaping @Sendable (ExecutorReport) -> Void) throws -> any ExecutorRun {
        let process = try JobProcess.launch(
            executable: executable, arguments: request.runArguments, logPath: request.folder + "/job.log", queue: queue,
            onEvent: { report(.event($0)) }, onExit: { report(.ended(.exited(WaitStatus($0)))) })
        return LocalRun(process: process)
    }

    /// A local run never outlives its daemon: there is nothing to adopt.
    func adopt(_ job: JobInfo, report: @escaping @Sendable (ExecutorReport) -> Void) -> (any ExecutorRun)? { nil }

    func shutdown() {}
}

/// A child process: cancelling and stopping both ask it to checkpoint and stop (SIGTERM); the
/// scheduler knows which was meant.
final class LocalRun: ExecutorRun {
    let process: JobProcess
    init(process: JobProcess) { self.process = process }
    func cancel() { process.terminate() }
    func stop() { process.terminate() }
    func kill() { process.forceKill() }
}
