/// The threads a computation runs on: a count and the pool of workers that serves it. AdvNN
/// parallelises everything itself — GEMMs split into column or row blocks, im2col, pooling and the
/// other per-image loops — on the context's threads, while OpenBLAS runs single-threaded inside each
/// block. (With OpenBLAS's own threads, its workers spin after every GEMM and fight the elementwise
/// threads for the cores, which made throughput bimodal; one pool for all work is faster and steady.)
///
/// A context is passed to what computes — a model's layers (`Layer.compute`), an optimizer, a
/// `Trainer`, an `ExperimentRunner` — never read from a global, so two computations with different
/// thread counts can run at once in one process, each on its own pool. Results never depend on the
/// count: work is split into pieces that depend on the shapes alone, and partial sums are added in a
/// fixed order.
public final class ComputeContext: Sendable {
    /// How many threads a computation on this context uses (the caller's included).
    public let threads: Int
    private let pool: ComputePool?

    /// A context of `threads` threads; above one, it starts `threads − 1` workers, which sleep when idle
    /// and stop when the context is released.
    public init(threads: Int) {
        precondition(threads >= 1, "thread count must be at least 1, got \(threads)")
        self.threads = threads
        pool = threads > 1 ? ComputePool(threads: threads) : nil
    }

    deinit { pool?.stop() }

    /// One thread: the caller's. What a layer computes on until it is given a context.
    public static let serial = ComputeContext(threads: 1)

    /// Runs `body` on disjoint, contiguous chunks covering 0..<count; returns when all are done.
    /// Chunk boundaries are multiples of `alignment` (but the last). `body` must only write memory
    /// that belongs to its own chunk.
    public func forEachChunk(of count: Int, minimumChunk: Int = 1, alignment: Int = 1, _ body: (Range<Int>) -> Void) {
        forEachChunk(of: count, minimumChunk: minimumChunk, alignment: alignment, maximumParts: .max) { range, _ in
            body(range)
        }
    }

    /// As `forEachChunk(of:minimumChunk:alignment:_:)`, in at most `maximumParts` parts, also passing
    /// each chunk's part number (below `maximumParts`): no two chunks running at the same time have the
    /// same part, so a body may use scratch memory of its part's own.
    public func forEachChunk(of count: Int, minimumChunk: Int = 1, alignment: Int = 1, maximumParts: Int,
                             _ body: (Range<Int>, _ part: Int) -> Void) {
        let parts = min(threads, maximumParts, max(count / max(minimumChunk, 1), 1))
        guard parts > 1, let pool else {
            body(0..<count, 0)
            return
        }
        func run(_ part: Int) {
            let lower = min(count, (count * part / parts + alignment - 1) / alignment * alignment)
            let upper = part == parts - 1 ? count
                : min(count, (count * (part + 1) / parts + alignment - 1) / alignment * alignment)
            if lower < upper { body(lower..<upper, part) }
        }
        pool.run(parts: parts, run)
    }
}
