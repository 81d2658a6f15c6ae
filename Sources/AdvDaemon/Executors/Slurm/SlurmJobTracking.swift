/// What the daemon knows of one of its Slurm jobs between two looks at `squeue`, and what the next look
/// means for the job's life cycle. A value with no Slurm in it, so that every sequence of states a
/// cluster can show — a requeue first seen while Slurm still stops the old run, one that came and went
/// between two looks — is tested without a cluster.
public struct SlurmJobTracking: Equatable, Sendable {
    /// Whether the daemon counts the job as running (reported it started, and not back in the queue since).
    public var isRunning = false
    /// Slurm's requeue count at the last look: 0 for a job this daemon just submitted, nil for an adopted
    /// one before its first look (its count is unknown, so a restart cannot be told from it).
    public var lastRestarts: Int?
    /// Slurm's state text (`PENDING (BeginTime)`) at the last look.
    public var lastState: String?

    public init(isRunning: Bool = false, lastRestarts: Int? = nil, lastState: String? = nil) {
        self.isRunning = isRunning
        self.lastRestarts = lastRestarts
        self.lastState = lastState
    }

    /// The life-cycle reports of one look at `job`, in order; after an `.ended` the job is no longer tracked.
    public mutating func observe(_ job: SlurmJob, cancelRequested: Bool) -> [ExecutorReport] {
        let state = job.stateText
        // Slurm counts its requeues: one since the last look means the job ran and went back to the
        // queue in between, even if no look saw it running
        let restarts = job.restarts ?? 0
        let requeuedUnseen = lastRestarts.map { restarts > $0 } ?? false
        lastRestarts = restarts
        defer { lastState = state }
        var reports: [ExecutorReport] = []
        func putBack() {
            if !isRunning { reports.append(.started(node: job.nodes)) }
            isRunning = false
            reports.append(.waiting(reason: "Slurm put it back in its queue (\(state), restart \(restarts))", clusterState: state))
        }
        func clusterState() { reports.append(.clusterState(node: job.nodes, partition: job.partition, state: state)) }
        switch job.phase {
        case .waiting:
            if isRunning || requeuedUnseen {
                putBack()
            } else if lastState != state {
                clusterState()
            }
        case .running:
            if requeuedUnseen { putBack() }   // ran, went back, and runs again since the last look
            // a run winding down is never a start: a requeue can take a while to stop it on a loaded
            // node, and the job stays back in the queue until Slurm runs it again
            if !isRunning && !job.isWindingDown {
                isRunning = true
                reports.append(.started(node: job.nodes))
            }
            if lastState != state { clusterState() }
        case .ended(let end):
            if requeuedUnseen { putBack() }   // ran, went back, and ran to its end since the last look
            // (its last events were read just before: it wrote them before Slurm saw it end)
            if !isRunning && !(end == .cancelled && job.nodes == nil) { reports.append(.started(node: job.nodes)) }
            clusterState()
            reports.append(.ended(end.runEnd(exitCode: job.exitCode ?? 0, cancelRequested: cancelRequested)))
        }
        return reports
    }

    /// The reports for a job Slurm no longer lists, which ended as `end` (read from its events file):
    /// a start first if none was reported, so every run the job's history shows has begun before it ends.
    public func vanished(ending end: RunEnd) -> [ExecutorReport] {
        (isRunning ? [] : [.started(node: nil)]) + [.ended(end)]
    }
}
