/// What `advd run --supervised` prints on stdout, one JSON line per event, for the daemon that runs it
/// as a job: progress, finished epochs and phases. Humans read the job's log (stderr) instead.
public struct SupervisedEvent: Codable, Sendable {
    public enum Kind: String, Codable, Sendable { case phase, step, epoch, evaluation }
    public var kind: Kind
    public var progress: JobProgress
    /// `epoch` events: the finished epoch's metrics.
    public var epoch: EpochRecord?

    public init(kind: Kind, progress: JobProgress, epoch: EpochRecord? = nil) {
        self.kind = kind
        self.progress = progress
        self.epoch = epoch
    }
}
