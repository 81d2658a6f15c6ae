import AdvProtocol
import AdvTerminal
import ArgumentParser
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "The daemon's version, uptime, workers and queue.")
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let status = try connection.perform(.status) { if case let .status(status) = $0 { status } else { nil } }
        if output.json { return printJSON(status) }
        print("advd \(status.version) (protocol \(status.protocolVersion)), pid \(status.pid), up \(Format.duration(status.uptimeSeconds))")
        if let executor = status.executor, executor.hasPrefix("Slurm") {
            print("executor: \(executor)")
            print("jobs: \(status.running) running, \(status.submitted ?? 0) submitted (in Slurm's queue), \(status.queued) queued")
        } else {
            print("workers: \(status.busyWorkers) busy, \(status.workers - status.busyWorkers) idle, \(Format.counted(status.threadsPerJob, "thread")) per job")
            print("jobs: \(status.running) running, \(status.queued) queued")
        }
        print("state: \(status.stateFolder)")
        print("spool: \(status.spools.joined(separator: ", "))")
        if let machine = status.machine { print("machine: \(machine)") }
        if let rate = status.sgemmGflops { print(String(format: "sgemm 512³ at start: %.1f GFLOP/s on 1 thread", rate)) }
        for warning in status.warnings ?? [] { print("WARNING: \(warning)") }
    }
}

struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit experiment manifests; the daemon checks them all and queues all or none, printing each job id.")
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "Manifest files (YAML or JSON); - reads one from standard input.") var manifests: [String]
    @Option(help: "Priority: higher runs first (default 0, from -1000 to 1000).") var priority: Int?
    @Option(name: .customLong("label"), help: "A label for filtering (repeatable).") var labels: [String] = []

    func run() throws {
        // every file is read before anything is sent, and the daemon queues all of them or none
        let submissions = try manifests.map { path in
            let data = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: path)
            guard let data, let text = String(data: data, encoding: .utf8) else {
                try? FileHandle.standardError.write(contentsOf: Data("advctl: \(path): cannot read the file (missing, unreadable or not UTF-8); nothing was submitted\n".utf8))
                throw ExitCode(1)
            }
            return Submission(manifest: text, manifestName: path == "-" ? "stdin.yaml" : (path as NSString).lastPathComponent,
                              priority: priority ?? 0, labels: labels)
        }
        let submitted = try connection.perform(.submit(submissions)) { if case let .submitted(manifests) = $0 { manifests } else { nil } }
        if output.json { return printJSON(submitted) }
        for (manifest, path) in zip(submitted, manifests) {
            guard let group = manifest.group else {
                for id in manifest.ids { print("\(id)\t\(path)") }
                continue
            }
            // a sweep: its group, then its jobs
            print("group \(group)\t\(Format.counted(manifest.ids.count, "job"))\t\(path)")
            for id in manifest.ids { print("\(id)\t\(path)") }
        }
    }
}

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List jobs, oldest first.")
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "Only jobs in these states (comma-separated: \(JobState.allCases.map(\.rawValue).joined(separator: ", "))).")
    var state: String?
    @Option(help: "Only jobs whose name contains this text.") var name: String?
    @Option(help: "Only the jobs of this sweep group (advctl submit prints it).") var group: String?
    @Option(help: "Only jobs with this label.") var label: String?
    @Option(help: "At most this many jobs, the newest.") var limit: Int?
    @Option(help: "Only jobs submitted since this time: a date (2026-11-30), a date and time (2026-11-30T14:00) or an age (90m, 12h, 7d).")
    var since: String?

    func validate() throws {
        _ = try states()
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit)") }
        if let since, Self.date(since) == nil {
            throw ValidationError("--since \"\(since)\": expected a date (2026-11-30), a date and time (2026-11-30T14:00) or an age (90m, 12h, 7d)")
        }
    }

    /// The time `--since` names: an age before now, or a local date (and time).
    static func date(_ text: String, now: Date = Date()) -> Date? {
        if let unit = text.last, let seconds = ["s": 1.0, "m": 60, "h": 3600, "d": 86400][String(unit)],
           let count = Double(text.dropLast()), count >= 0 {
            return now.addingTimeInterval(-count * seconds)
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        for format in ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd HH:mm", "yyyy-MM-dd"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }

    /// The states `--state` names.
    private func states() throws -> [JobState] {
        try (state?.split(separator: ",") ?? []).map { name in
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let state = JobState(rawValue: trimmed) else {
                throw ValidationError("unknown state \"\(trimmed)\"; expected one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return state
        }
    }

    func run() throws {
        let states = try states()
        let query = ListQuery(states: states, nameContains: name, label: label, limit: limit, since: since.flatMap { Self.date($0) },
                              group: group)
        let jobs = try connection.perform(.list(query)) { if case let .jobs(jobs) = $0 { jobs } else { nil } }
        if output.json { return printJSON(jobs) }
        // a cluster's jobs say where they are, as squeue would: id, partition, node
        let clustered = jobs.contains { $0.placement != nil }
        var rows = [["ID", "NAME", "STATE", "CLEAN", "WORST", "WARNINGS", "PRI", "OWNER", "PROGRESS", "SUBMITTED", "LABELS"]
                    + (clustered ? ["CLUSTER JOB", "PARTITION", "NODE"] : [])]
        for job in jobs {
            let outcome = job.outcome
            var row: [String] = ["\(job.id)", job.name, job.state.rawValue, outcome.map { Format.percent($0.cleanAccuracy) } ?? "",
                         outcome.map { Format.percent($0.worstCaseRobustAccuracy) } ?? "", outcome.map { "\($0.warnings)" } ?? "",
                         "\(job.priority)", "\(job.ownerUID)",
                         job.state == .running ? Format.progress(job.progress) : "", Format.date(job.submittedAt),
                         job.labels.joined(separator: ",")]
            if clustered {
                let placement = job.placement
                row += [placement.map { "\($0.executor) \($0.clusterJobID)" } ?? "", placement?.partition ?? "", placement?.node ?? ""]
            }
            rows.append(row)
        }
        print(Format.table(rows))
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "A job's details, progress and ETA, epochs and events.")
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "The job id.") var job: JobID

    func run() throws {
        let info = try connection.perform(.show(JobReference(job: job.value))) { if case let .job(info) = $0 { info } else { nil } }
        if output.json { return printJSON(info) }
        print("job \(info.id): \(info.name)")
        print("state: \(info.state.rawValue)\(info.error.map { " — \($0)" } ?? "")")
        print("owner uid \(info.ownerUID), priority \(info.priority), attempts \(info.attempts), labels: \(info.labels.joined(separator: ", "))")
        print("source: \(info.source)")
        print("submitted \(Format.date(info.submittedAt))" + (info.startedAt.map { ", started \(Format.date($0))" } ?? "")
              + (info.finishedAt.map { ", finished \(Format.date($0))" } ?? ""))
        if info.state == .running, let progress = info.progress { print("progress: \(Format.progress(progress))") }
        if let placement = info.placement { print("cluster: \(placement.summary)") }
        print("output: \(info.outputFolder)")
        if let epochs = info.epochs, !epochs.isEmpty {
            var rows = [["EPOCH", "LOSS", "TRAIN", "VALIDATION", "VALIDATION PGD-10", "LR", "SECONDS"]]
            for epoch in epochs {
                rows.append(["\(epoch.epoch)", String(format: "%.4f", epoch.trainLoss), Format.percent(epoch.trainAccuracy),
                             epoch.validationAccuracy.map(Format.percent) ?? "—", epoch.heldOutRobustAccuracy.map(Format.percent) ?? "—",
                             String(format: "%.4g", epoch.learningRate), String(format: "%.1f", epoch.seconds)])
            }
            print("\n" + Format.table(rows))
        }
        if let events = info.events, !events.isEmpty {
            print("\nevents:")
            for event in events { print("  \(Format.date(event.at))  \(event.kind): \(event.message)") }
        }
    }
}

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "watch", abstract: "A live progress bar until the job finishes.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The job id.") var job: JobID
    @Option(help: "Seconds between updates.") var interval: Double = 1

    func run() throws {
        let line = ProgressLine()
        while true {
            let info = try connection.perform(.show(JobReference(job: job.value))) { if case let .job(info) = $0 { info } else { nil } }
            if info.state == .running, let progress = info.progress {
                line.update(Format.bar(progress.jobFraction ?? progress.fraction ?? 0) + " " + Format.progress(progress))
            } else {
                line.update("job \(info.id) \(info.state.rawValue)")
            }
            if info.state.isFinished {
                line.finish()
                if let error = info.error { print(error) }
                if info.state != .succeeded { throw ExitCode(1) }
                return
            }
            Thread.sleep(forTimeInterval: interval)
        }
    }
}

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "A job's log; --follow keeps printing until it finishes.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The job id.") var job: JobID
    @Flag(name: .shortAndLong, help: "Keep printing new lines until the job finishes.") var follow = false

    func run() throws {
        var offset: Int64 = 0
        while true {
            let chunk = try connection.perform(.logs(LogQuery(job: job.value, offset: offset))) {
                if case let .logs(chunk) = $0 { chunk } else { nil }
            }
            print(chunk.text, terminator: "")
            fflush(nil)
            offset = chunk.nextOffset
            if !follow || (chunk.finished && chunk.text.isEmpty) { return }
            if chunk.text.isEmpty { Thread.sleep(forTimeInterval: 0.5) }
        }
    }
}

struct ResultsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results", abstract: "Clean, per-attack and worst-case robust accuracy, the ε-curve and warnings of a finished job.")
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "The job id.") var job: JobID?
    @Option(help: "A sweep's group instead of a job: its grid, with mean ± standard deviation over seeds.") var group: String?

    func validate() throws {
        guard (job == nil) != (group == nil) else { throw ValidationError("give a job id or --group, not both and not neither") }
    }

    func run() throws {
        if let group { return try showGroup(group) }
        guard let job else { return }
        let results = try connection.perform(.results(JobReference(job: job.value))) { if case let .results(results) = $0 { results } else { nil } }
        if output.json { return printJSON(results) }
        let evaluation = results.evaluation
        print("job \(results.job): \(evaluation.threatModel), \(evaluation.examples) test examples")
        var rows = [["", "ROBUST ACCURACY"], ["clean", Format.percent(evaluation.cleanAccuracy)]]
        for attack in evaluation.attacks { rows.append(["after " + attack.name, Format.percent(attack.robustAccuracyAfter)]) }
        rows.append(["worst case", Format.percent(evaluation.worstCaseRobustAccuracy)])
        print(Format.table(rows))
        if !evaluation.epsilonCurve.isEmpty {
            print("\nε-curve:")
            for point in evaluation.epsilonCurve { print(String(format: "  ε = %-8g %@", point.epsilon, Format.percent(point.robustAccuracy))) }
        }
        if !evaluation.warnings.isEmpty {
            print("\nWARNINGS (the evaluation shows signs of gradient masking or a weak attack):")
            for warning in evaluation.warnings {
                print("  - \(warning.check): \(warning.message)\n    evidence: \(warning.evidence)\n    try: \(warning.suggestion)")
            }
        }
    }
}

extension ResultsCommand {
    /// The sweep's grid: one row per point, accuracies as mean ± standard deviation over its seeds.
    func showGroup(_ group: String) throws {
        let jobs = try connection.perform(.list(ListQuery(group: group))) { if case let .jobs(jobs) = $0 { jobs } else { nil } }
        guard !jobs.isEmpty else {
            try? FileHandle.standardError.write(contentsOf: Data("advctl: no job in group \(group) (advctl list shows the groups of sweeps)\n".utf8))
            throw ExitCode(1)
        }
        let summary = SweepSummary(jobs: jobs)
        if output.json {
            return printJSON(summary.rows.map { row in
                GroupRow(point: Dictionary(uniqueKeysWithValues: zip(summary.keys, row.values)), jobs: row.jobs, seeds: row.seeds,
                         succeeded: row.clean?.count ?? 0, cleanMean: row.clean?.mean, cleanStandardDeviation: row.clean?.standardDeviation,
                         worstCaseMean: row.worstCase?.mean, worstCaseStandardDeviation: row.worstCase?.standardDeviation)
            })
        }
        print("group \(group): \(Format.counted(jobs.count, "job")), \(Format.counted(summary.rows.count, "point")); mean ± standard deviation over seeds")
        var rows = [summary.keys.map { $0.uppercased() } + ["SEEDS", "CLEAN", "WORST CASE", "JOBS", "NOT DONE"]]
        for row in summary.rows {
            let pending = row.unfinished.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }
            rows.append(row.values + [row.seeds.joined(separator: ","), row.clean?.percentText ?? "—", row.worstCase?.percentText ?? "—",
                                      row.jobs.map(String.init).joined(separator: ","), pending.joined(separator: ", ")])
        }
        print(Format.table(rows))
    }

    /// One row of `results --group --json`.
    struct GroupRow: Encodable {
        var point: [String: String]
        var jobs: [Int64]
        var seeds: [String]
        var succeeded: Int
        var cleanMean: Double?
        var cleanStandardDeviation: Double?
        var worstCaseMean: Double?
        var worstCaseStandardDeviation: Double?
    }
}

struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a queued or running job (its submitter or root).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The job id.") var job: JobID

    func run() throws {
        try connection.perform(.cancel(JobReference(job: job.value))) { if case .done = $0 { () } else { nil } }
        print("job \(job.value): cancellation requested")
    }
}

struct RetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "retry", abstract: "Queue a failed or cancelled job again (its submitter or root).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The job id.") var job: JobID

    func run() throws {
        try connection.perform(.retry(JobReference(job: job.value))) { if case .done = $0 { () } else { nil } }
        print("job \(job.value): queued again")
    }
}

struct ArtifactsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "artifacts", abstract: "Paths of a job's model, checkpoints, metrics and report.")
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "The job id.") var job: JobID

    func run() throws {
        let artifacts = try connection.perform(.artifacts(JobReference(job: job.value))) { if case let .artifacts(found) = $0 { found } else { nil } }
        if output.json { return printJSON(artifacts) }
        print(Format.table([["KIND", "PATH", "BYTES"]] + artifacts.map { [$0.kind, $0.path, $0.bytes.map(String.init) ?? ""] }))
    }
}
