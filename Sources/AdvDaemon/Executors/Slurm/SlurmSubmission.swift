import AdvNN
import Foundation

/// One `sbatch` of one job (once per attempt): its batch script and arguments, a pure function of the
/// request and the settings (tested as such).
public struct SlurmSubmission: Equatable, Sendable {
    /// `advd-<job id>-<n>`, n counting the job's submissions over its whole life (its attempts, unless
    /// a retry by hand reset them): what `squeue` shows, and how a daemon that crashed right after
    /// `sbatch` finds the job instead of submitting it twice.
    public let jobName: String
    public let script: String
    public let arguments: [String]

    public static func jobName(job: Int64, submission: Int) -> String { "advd-\(job)-\(submission)" }

    /// - Parameters:
    ///   - submission: which of the job's submissions this is (its earlier ones, plus one).
    ///   - advdPath: the advd binary on the nodes.
    ///   - unsetKernelChoice: the daemon's own kernel was chosen by advd for its CPU, not pinned by an
    ///     administrator: the job's node chooses for its own CPU instead of inheriting the daemon's.
    public init(request: RunRequest, submission: Int, settings: SlurmSettings, advdPath: String, unsetKernelChoice: Bool) {
        jobName = Self.jobName(job: request.job.id, submission: submission)
        let command = ([advdPath] + request.runArguments + ["--events-file", request.folder + "/events.jsonl"])
            .map(Self.shellQuoted).joined(separator: " ")
        var lines = ["#!/bin/sh",
                     "# advd job \(request.job.id) (\(request.job.name)), submission \(submission): written by advd for sbatch.",
                     "# SIGTERM (Slurm's warning before the time limit or a preemption, scancel, scontrol requeue)",
                     "# makes advd checkpoint and exit 75; run again, it resumes from its last checkpoint."]
        if unsetKernelChoice { lines.append("unset \(KernelSelection.variable) \(KernelSelection.fallbackVariable)") }
        lines.append("exec \(command)")
        script = lines.joined(separator: "\n") + "\n"

        var arguments = ["--parsable", "--job-name=\(jobName)", "--chdir=\(request.folder)", "--output=\(request.folder)/job.log",
                         "--open-mode=append", "--cpus-per-task=\(request.threads)", "--ntasks=1", "--requeue",
                         "--signal=B:TERM@\(settings.signalSeconds)"]
        if let partition = settings.partition { arguments.append("--partition=\(partition)") }
        if let account = settings.account { arguments.append("--account=\(account)") }
        if let qos = settings.qos { arguments.append("--qos=\(qos)") }
        if let time = settings.timeLimit { arguments.append("--time=\(time)") }
        if let memory = settings.memoryPerJob { arguments.append("--mem=\(memory)") }
        arguments += settings.extraSbatchArguments
        self.arguments = arguments + [request.folder + "/slurm-job.sh"]
    }

    /// `text` as one word for sh: single-quoted, with single quotes spelled out.
    public static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// The job id `sbatch --parsable` printed (`1234`, or `1234;cluster`).
    public static func parseJobID(_ output: String) -> String? {
        let first = output.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        let id = first.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        return !id.isEmpty && id.allSatisfy(\.isNumber) ? id : nil
    }
}
