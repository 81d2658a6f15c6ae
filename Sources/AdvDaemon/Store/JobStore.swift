import AdvProtocol
import Foundation
import GRDB

/// The daemon's durable record of every job, in SQLite (WAL mode, so `advctl` reads never wait for the
/// workers' writes; a busy timeout for the rare writer contention; versioned migrations in
/// `JobStoreSchema`). Results are copied in when a job succeeds, so they stay queryable after the
/// job's files are deleted.
public final class JobStore: Sendable {
    let database: DatabasePool

    /// Opens (creating if needed) the database at `path` and migrates it to the newest schema.
    /// - Throws: `DaemonError` naming the file when it cannot be opened or migrated.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.label = "advd.jobs"
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            try JobStoreSchema.migrator.migrate(database)
        } catch {
            throw DaemonError("\(path): cannot open the job database: \(error)")
        }
    }

    // MARK: Submission

    /// What a new job is made of.
    public struct Submission: Sendable {
        public var name: String
        public var ownerUID: UInt32
        public var priority: Int
        public var labels: [String]
        public var manifest: String
        /// `advctl` or the spool file it came from.
        public var source: String
        /// For spool files: the file's identity, so that a file recorded just before a crash (and not
        /// yet moved out of the spool) is recognised at the next start instead of becoming a second job.
        public var spoolKey: String?
        /// Where the job lies in its sweep's grid; nil for a single experiment.
        public var sweepPoint: [SweepCoordinate]?

        public init(name: String, ownerUID: UInt32, priority: Int, labels: [String], manifest: String, source: String,
                    spoolKey: String?, sweepPoint: [SweepCoordinate]? = nil) {
            self.sweepPoint = sweepPoint
            self.name = name
            self.ownerUID = ownerUID
            self.priority = priority
            self.labels = labels
            self.manifest = manifest
            self.source = source
            self.spoolKey = spoolKey
        }
    }

    /// Records a queued job, or finds the job already recorded for the same spool file.
    /// - Returns: the job id and whether it was new.
    public func submit(_ submission: Submission, outputFolder: (Int64) -> String) throws -> (id: Int64, isNew: Bool) {
        let recorded = try submit(ManifestJobs(jobs: [submission], sweepName: nil), outputFolder: outputFolder)
        return (recorded.ids[0], recorded.isNew)
    }

    /// One manifest's jobs: a single experiment, or a sweep's points, which share a group named after
    /// the sweep and its first job (`pgd-grid-12`).
    public struct ManifestJobs: Sendable {
        public var jobs: [Submission]
        public var sweepName: String?
        public init(jobs: [Submission], sweepName: String?) {
            self.jobs = jobs
            self.sweepName = sweepName
        }
    }

    /// Records the jobs of several manifests in one transaction: all of them, or none.
    /// - Returns: each manifest's job ids, in order, and its sweep's group.
    public func submitAll(_ manifests: [ManifestJobs], outputFolder: (Int64) -> String) throws -> [(ids: [Int64], group: String?)] {
        try database.write { db in try manifests.map { try Self.insert($0, in: db, outputFolder: outputFolder) } }
    }

    /// Records one manifest's jobs (from the spool: the first job carries the file's key, so a file
    /// recorded just before a crash is found again, all its jobs with it).
    /// - Returns: the job ids, the sweep's group, and whether they are new.
    public func submit(_ manifest: ManifestJobs, outputFolder: (Int64) -> String) throws -> (ids: [Int64], group: String?, isNew: Bool) {
        try database.write { db in
            if let key = manifest.jobs.first?.spoolKey,
               let existing = try Row.fetchOne(db, sql: "SELECT id, sweep_group FROM jobs WHERE spool_key = ?", arguments: [key]) {
                let group: String? = existing["sweep_group"]
                let ids = try group.map { try Int64.fetchAll(db, sql: "SELECT id FROM jobs WHERE sweep_group = ? ORDER BY id", arguments: [$0]) }
                return (ids ?? [existing["id"]], group, false)
            }
            let (ids, group) = try Self.insert(manifest, in: db, outputFolder: outputFolder)
            return (ids, group, true)
        }
    }

    private static func insert(_ manifest: ManifestJobs, in db: Database, outputFolder: (Int64) -> String) throws -> (ids: [Int64], group: String?) {
        let ids = try manifest.jobs.map { try insert($0, in: db, outputFolder: outputFolder) }
        guard let name = manifest.sweepName, let first = ids.first else { return (ids, nil) }
        let group = "\(name)-\(first)"
        try db.execute(sql: "UPDATE jobs SET sweep_group = ? WHERE id IN (\(ids.map(String.init).joined(separator: ", ")))", arguments: [group])
        return (ids, group)
    }

    private static func insert(_ submission: Submission, in db: Database, outputFolder: (Int64) -> String) throws -> Int64 {
        try db.execute(sql: """
            INSERT INTO jobs (name, owner_uid, priority, labels, state, manifest, source, spool_key, attempts, submitted_at, output_folder,
                              sweep_point)
            VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, 0, ?, '', ?)
            """, arguments: [submission.name, submission.ownerUID, submission.priority, try json(submission.labels),
                             submission.manifest, submission.source, submission.spoolKey, Date().timeIntervalSince1970,
                             try submission.sweepPoint.map { try json($0) }])
        let id = db.lastInsertedRowID
        try db.execute(sql: "UPDATE jobs SET output_folder = ? WHERE id = ?", arguments: [outputFolder(id), id])
        try addEvent(db, job: id, kind: "state", message: "queued (from \(submission.source))")
        return id
    }

    // MARK: The life cycle

    /// Marks the most urgent queued job (highest priority, then oldest) running and returns it.
    public func claimNext() throws -> JobInfo? {
        try database.write { db in
            guard let id = try Int64.fetchOne(db, sql: """
                SELECT id FROM jobs WHERE state = 'queued' ORDER BY priority DESC, id ASC LIMIT 1
                """) else { return nil }
            try Self.apply(.claim, to: id, in: db)
            return try Self.job(db, id: id)
        }
    }

    /// Moves a job through its life cycle (`JobLifecycle`), recording the transition in its history.
    /// - Returns: the state the job left.
    /// - Throws: `JobLifecycle.IllegalTransition` when the job's state does not allow `event`;
    ///   `ProtocolError.notFound` for an unknown job.
    @discardableResult
    public func apply(_ event: JobLifecycle.Event, to id: Int64) throws -> JobState {
        try database.write { db in try Self.apply(event, to: id, in: db).from }
    }

    /// The most urgent queued job (highest priority, then oldest), left queued: a cluster executor
    /// submits it first and then records the hand-over (`handOver`).
    /// - Parameter excluding: jobs whose submission is under way already.
    public func nextQueued(excluding: [Int64] = []) throws -> JobInfo? {
        try database.read { db in
            let skipped = excluding.isEmpty ? "" : "AND id NOT IN (\(excluding.map(String.init).joined(separator: ", ")))"
            return try Row.fetchOne(db, sql: """
                SELECT \(Self.jobColumns) FROM jobs WHERE state = 'queued' \(skipped) ORDER BY priority DESC, id ASC LIMIT 1
                """).map(Self.jobInfo)
        }
    }

    /// A cluster took the queued job `id`: it becomes submitted, with where the cluster holds it, in one
    /// transaction.
    /// - Returns: the job as it is now.
    @discardableResult
    public func handOver(_ id: Int64, to placement: ClusterPlacement) throws -> JobInfo {
        try database.write { db in
            try Self.apply(.handOver, to: id, in: db)
            try db.execute(sql: """
                UPDATE jobs SET cluster_executor = ?, cluster_job_id = ?, cluster_partition = ?, cluster_node = ?, cluster_state = ?,
                    cluster_submissions = ?
                WHERE id = ?
                """, arguments: [placement.executor, placement.clusterJobID, placement.partition, placement.node,
                                 placement.clusterState, placement.submission, id])
            try Self.addEvent(db, job: id, kind: "info", message: "submitted as \(placement.summary)")
            return try Self.job(db, id: id)!
        }
    }

    /// What the cluster last said of job `id`: its node, partition and its own state.
    public func updatePlacement(_ id: Int64, node: String?, partition: String?, clusterState: String?) throws {
        try database.write { db in
            try db.execute(sql: """
                UPDATE jobs SET cluster_node = coalesce(?, cluster_node), cluster_partition = coalesce(?, cluster_partition),
                    cluster_state = ? WHERE id = ?
                """, arguments: [node, partition, clusterState, id])
        }
    }

    /// Jobs a cluster executor holds (submitted or running there): a restarted daemon tracks them again
    /// rather than queueing them a second time.
    public func jobsHeldByCluster(_ executor: String) throws -> [JobInfo] {
        try database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.jobColumns) FROM jobs WHERE state IN ('submitted', 'running') AND cluster_executor = ? ORDER BY id
                """, arguments: [executor]).map(Self.jobInfo)
        }
    }

    /// At start: every job a previous daemon left running was cut off by a crash, and every job it left
    /// interrupted saved its progress; both go back to the queue to resume from their checkpoints. Jobs
    /// that `clusterExecutor` holds are left as they are: the cluster runs them still, and the daemon
    /// adopts them.
    /// - Returns: their ids.
    public func requeueInterrupted(keepingJobsOf clusterExecutor: String? = nil) throws -> [Int64] {
        try database.write { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT id, state FROM jobs WHERE (state = 'interrupted' OR (state IN ('running', 'submitted')
                    AND (cluster_executor IS NULL OR cluster_executor IS NOT ?))) ORDER BY id
                """, arguments: [clusterExecutor])
            for row in rows {
                let id: Int64 = row["id"]
                let event: JobLifecycle.Event = row["state"] == JobState.interrupted.rawValue
                    ? .resume : .requeue(reason: "cut off when the daemon stopped without saving it")
                try Self.apply(event, to: id, in: db)
            }
            return rows.map { $0["id"] }
        }
    }

    /// Cancels a queued job at once; returns false when it is not queued (a running one is stopped by
    /// its worker, which then records the cancellation).
    public func cancelIfQueued(_ id: Int64) throws -> Bool {
        try database.write { db in
            guard try Self.state(db, id: id) == .queued else { return false }
            try Self.apply(.cancel, to: id, in: db)
            return true
        }
    }

    /// Applies `event` to job `id` inside the transaction `db`.
    @discardableResult
    static func apply(_ event: JobLifecycle.Event, to id: Int64, in db: Database) throws -> JobLifecycle.Transition {
        guard let state = try state(db, id: id) else { throw ProtocolError(code: .notFound, message: "no job \(id)") }
        let transition = try JobLifecycle.transition(from: state, on: event, job: id)
        let now = Date().timeIntervalSince1970
        var assignments = ["state = ?"], arguments: [(any DatabaseValueConvertible)?] = [transition.to.rawValue]
        switch transition.attempts {
        case .keep: break
        case .begin: assignments.append("attempts = attempts + 1")
        case .giveBack: assignments.append("attempts = max(attempts - 1, 0)")
        case .reset: assignments.append("attempts = 0")
        }
        switch transition.error {
        case .keep: break
        case .clear: assignments.append("error = NULL")
        case .set(let text): assignments.append("error = ?"); arguments.append(text)
        }
        if transition.marksStart { assignments.append("started_at = ?"); arguments.append(now) }
        assignments.append("finished_at = ?")
        arguments.append(transition.marksFinish ? now : nil)
        arguments.append(id)
        try db.execute(sql: "UPDATE jobs SET \(assignments.joined(separator: ", ")) WHERE id = ?", arguments: StatementArguments(arguments))
        try addEvent(db, job: id, kind: "state", message: transition.message)
        return transition
    }

    static func state(_ db: Database, id: Int64) throws -> JobState? {
        try String.fetchOne(db, sql: "SELECT state FROM jobs WHERE id = ?", arguments: [id]).flatMap(JobState.init(rawValue:))
    }

    // MARK: Progress and results

    public func updateProgress(_ id: Int64, _ progress: JobProgress) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE jobs SET progress = ? WHERE id = ?", arguments: [try Self.json(progress), id])
        }
    }

    /// Records a finished epoch (again after a resume: the same epoch's row is replaced).
    public func recordEpoch(_ id: Int64, _ epoch: EpochRecord) throws {
        try database.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO epochs (job_id, epoch, train_loss, train_accuracy, validation_accuracy, held_out_robust_accuracy, learning_rate, seconds)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id, epoch.epoch, epoch.trainLoss, epoch.trainAccuracy, epoch.validationAccuracy,
                                 epoch.heldOutRobustAccuracy, epoch.learningRate, epoch.seconds])
        }
    }

    /// Stores a succeeded job's evaluation and marks it succeeded, in one transaction.
    /// - Throws: `JobLifecycle.IllegalTransition` when the job is not running (nothing is stored then).
    public func recordSuccess(_ id: Int64, evaluation: EvaluationSummary) throws {
        try database.write { db in
            for table in ["results", "attack_results", "epsilon_results", "warnings"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE job_id = ?", arguments: [id])
            }
            try db.execute(sql: """
                INSERT INTO results (job_id, threat_model, examples, clean_accuracy, worst_case_robust_accuracy) VALUES (?, ?, ?, ?, ?)
                """, arguments: [id, evaluation.threatModel, evaluation.examples, evaluation.cleanAccuracy,
                                 evaluation.worstCaseRobustAccuracy])
            for (position, attack) in evaluation.attacks.enumerated() {
                try db.execute(sql: """
                    INSERT INTO attack_results (job_id, position, name, robust_accuracy_after, newly_broken) VALUES (?, ?, ?, ?, ?)
                    """, arguments: [id, position, attack.name, attack.robustAccuracyAfter, attack.newlyBroken])
            }
            for point in evaluation.epsilonCurve {
                try db.execute(sql: "INSERT INTO epsilon_results (job_id, epsilon, robust_accuracy) VALUES (?, ?, ?)",
                               arguments: [id, point.epsilon, point.robustAccuracy])
            }
            for (position, warning) in evaluation.warnings.enumerated() {
                try db.execute(sql: """
                    INSERT INTO warnings (job_id, position, check_name, message, evidence, suggestion) VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [id, position, warning.check, warning.message, warning.evidence, warning.suggestion])
                try Self.addEvent(db, job: id, kind: "warning", message: "\(warning.check): \(warning.message)")
            }
            try Self.apply(.succeed, to: id, in: db)
        }
    }

    /// After retention removed a job's folder: its results stay, its files are gone.
    public func forgetFiles(_ id: Int64) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE jobs SET output_folder = '' WHERE id = ?", arguments: [id])
            try Self.addEvent(db, job: id, kind: "info", message: "files removed by the retention policy; results kept")
        }
    }

    public func addEvent(_ id: Int64, kind: String, message: String) throws {
        try database.write { db in try Self.addEvent(db, job: id, kind: kind, message: message) }
    }

    // MARK: Queries

    public func job(_ id: Int64, details: Bool = false) throws -> JobInfo? {
        try database.read { db in
            guard var job = try Self.job(db, id: id) else { return nil }
            if details {
                job.manifest = try Self.manifest(db, id: id)
                job.epochs = try Self.epochs(db, job: id)
                job.events = try Row.fetchAll(db, sql: "SELECT at, kind, message FROM events WHERE job_id = ? ORDER BY id", arguments: [id])
                    .map { EventRecord(at: Date(timeIntervalSince1970: $0["at"]), kind: $0["kind"], message: $0["message"]) }
            }
            return job
        }
    }

    /// The manifest text a job was submitted with.
    public func manifest(_ id: Int64) throws -> String? {
        try database.read { db in try Self.manifest(db, id: id) }
    }

    public struct Filter: Sendable {
        public var states: [JobState] = []
        public var nameContains: String?
        public var label: String?
        /// Only jobs submitted at or after this time.
        public var since: Date?
        /// Only the jobs of this sweep group.
        public var group: String?
        /// At most this many jobs: the newest.
        public var limit = 1000
        public init() {}
    }

    public func list(_ filter: Filter = Filter()) throws -> [JobInfo] {
        try database.read { db in
            var conditions: [String] = [], arguments: [any DatabaseValueConvertible] = []
            if !filter.states.isEmpty {
                conditions.append("state IN (\(filter.states.map { _ in "?" }.joined(separator: ", ")))")
                arguments += filter.states.map(\.rawValue)
            }
            if let name = filter.nameContains { conditions.append("instr(name, ?) > 0"); arguments.append(name) }
            if let label = filter.label {
                conditions.append("EXISTS (SELECT 1 FROM json_each(jobs.labels) WHERE value = ?)")
                arguments.append(label)
            }
            if let since = filter.since { conditions.append("submitted_at >= ?"); arguments.append(since.timeIntervalSince1970) }
            if let group = filter.group { conditions.append("sweep_group = ?"); arguments.append(group) }
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            // the newest `limit` jobs, listed oldest first
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM (SELECT \(Self.jobColumns) FROM jobs \(whereClause) ORDER BY id DESC LIMIT \(filter.limit)) ORDER BY id
                """, arguments: StatementArguments(arguments))
            return rows.map(Self.jobInfo)
        }
    }

    /// Jobs per state.
    public func counts() throws -> [JobState: Int] {
        try database.read { db in
            var counts: [JobState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, count(*) AS n FROM jobs GROUP BY state") {
                if let state = JobState(rawValue: row["state"]) { counts[state] = row["n"] }
            }
            return counts
        }
    }

    public func results(_ id: Int64) throws -> JobResults? {
        try database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM results WHERE job_id = ?", arguments: [id]) else { return nil }
            let attacks = try Row.fetchAll(db, sql: "SELECT * FROM attack_results WHERE job_id = ? ORDER BY position", arguments: [id])
                .map { AttackResult(name: $0["name"], robustAccuracyAfter: $0["robust_accuracy_after"], newlyBroken: $0["newly_broken"]) }
            let curve = try Row.fetchAll(db, sql: "SELECT * FROM epsilon_results WHERE job_id = ? ORDER BY epsilon", arguments: [id])
                .map { EpsilonPoint(epsilon: $0["epsilon"], robustAccuracy: $0["robust_accuracy"]) }
            let warnings = try Row.fetchAll(db, sql: "SELECT * FROM warnings WHERE job_id = ? ORDER BY position", arguments: [id])
                .map { JobWarning(check: $0["check_name"], message: $0["message"], evidence: $0["evidence"], suggestion: $0["suggestion"]) }
            return JobResults(job: id, evaluation: EvaluationSummary(
                threatModel: row["threat_model"], examples: row["examples"], cleanAccuracy: row["clean_accuracy"],
                worstCaseRobustAccuracy: row["worst_case_robust_accuracy"], attacks: attacks, epsilonCurve: curve, warnings: warnings))
        }
    }

    /// Finished jobs whose files are older than `cutoff`, for retention.
    public func finishedBefore(_ cutoff: Date) throws -> [JobInfo] {
        let finished = JobState.allCases.filter(\.isFinished).map { "'\($0.rawValue)'" }.joined(separator: ", ")
        return try database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.jobColumns) FROM jobs WHERE state IN (\(finished)) AND finished_at < ? AND output_folder != ''
                """, arguments: [cutoff.timeIntervalSince1970]).map(Self.jobInfo)
        }
    }

    // MARK: Rows

    /// A job's row and its headline results (NULL until it succeeded): select them `FROM jobs`.
    static let jobColumns = """
        id, name, owner_uid, priority, labels, state, attempts, source, submitted_at, started_at, finished_at, error, progress, output_folder,
        cluster_executor, cluster_job_id, cluster_partition, cluster_node, cluster_state, cluster_submissions, sweep_group, sweep_point,
        (SELECT clean_accuracy FROM results WHERE results.job_id = jobs.id) AS clean_accuracy,
        (SELECT worst_case_robust_accuracy FROM results WHERE results.job_id = jobs.id) AS worst_case_robust_accuracy,
        (SELECT count(*) FROM warnings WHERE warnings.job_id = jobs.id) AS warning_count
        """

    static func job(_ db: Database, id: Int64) throws -> JobInfo? {
        try Row.fetchOne(db, sql: "SELECT \(jobColumns) FROM jobs WHERE id = ?", arguments: [id]).map(jobInfo)
    }

    static func manifest(_ db: Database, id: Int64) throws -> String? {
        try String.fetchOne(db, sql: "SELECT manifest FROM jobs WHERE id = ?", arguments: [id])
    }

    static func jobInfo(_ row: Row) -> JobInfo {
        var job = JobInfo(id: row["id"], name: row["name"], ownerUID: UInt32(row["owner_uid"] as Int64), priority: row["priority"],
                          labels: decodeJSON([String].self, row["labels"]) ?? [], state: JobState(rawValue: row["state"]) ?? .failed,
                          attempts: row["attempts"], source: row["source"], submittedAt: Date(timeIntervalSince1970: row["submitted_at"]),
                          outputFolder: row["output_folder"])
        job.startedAt = (row["started_at"] as Double?).map(Date.init(timeIntervalSince1970:))
        job.finishedAt = (row["finished_at"] as Double?).map(Date.init(timeIntervalSince1970:))
        job.error = row["error"]
        job.progress = decodeJSON(JobProgress.self, row["progress"])
        if let executor = row["cluster_executor"] as String?, let clusterID = row["cluster_job_id"] as String? {
            job.placement = ClusterPlacement(executor: executor, clusterJobID: clusterID, partition: row["cluster_partition"],
                                             node: row["cluster_node"], clusterState: row["cluster_state"],
                                             submission: row["cluster_submissions"])
        }
        job.group = row["sweep_group"]
        job.sweepPoint = decodeJSON([SweepCoordinate].self, row["sweep_point"])
        if let clean = row["clean_accuracy"] as Double?, let worst = row["worst_case_robust_accuracy"] as Double? {
            job.outcome = ResultOutcome(cleanAccuracy: clean, worstCaseRobustAccuracy: worst, warnings: row["warning_count"])
        }
        return job
    }

    static func epochs(_ db: Database, job: Int64) throws -> [EpochRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM epochs WHERE job_id = ? ORDER BY epoch", arguments: [job]).map {
            EpochRecord(epoch: $0["epoch"], trainLoss: $0["train_loss"], trainAccuracy: $0["train_accuracy"], validationAccuracy: $0["validation_accuracy"],
                        heldOutRobustAccuracy: $0["held_out_robust_accuracy"], learningRate: $0["learning_rate"], seconds: $0["seconds"])
        }
    }

    static func addEvent(_ db: Database, job: Int64, kind: String, message: String) throws {
        try db.execute(sql: "INSERT INTO events (job_id, at, kind, message) VALUES (?, ?, ?, ?)",
                       arguments: [job, Date().timeIntervalSince1970, kind, message])
    }

    static func json<Value: Encodable>(_ value: Value) throws -> String {
        String(decoding: try Wire.encodeLine(value).dropLast(), as: UTF8.self)
    }

    static func decodeJSON<Value: Decodable>(_ type: Value.Type, _ text: String?) -> Value? {
        text.flatMap { try? Wire.decode(type, from: Data($0.utf8)) }
    }
}

/// An error of the daemon's own (configuration, files, database); the message names what and where.
public struct DaemonError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
