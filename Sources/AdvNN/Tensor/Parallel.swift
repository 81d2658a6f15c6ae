import Synchronization

/// The process's compute threads. AdvNN parallelises everything itself — GEMMs split into column or
/// row blocks, im2col, pooling and the other per-image loops — on one pool of `threadCount` threads,
/// while OpenBLAS runs single-threaded inside each block. With OpenBLAS's own threads, its workers
/// spin after every GEMM and fight our elementwise threads for the cores, which made throughput
/// bimodal; one pool for all work is both faster and steady.
public enum Parallel {
    /// Threads per computation in this process; set once at start-up from configuration.
    public static var threadCount: Int { pools.withLock { $0.threadCount } }

    /// Sets the thread count (the daemon divides the machine's cores among concurrent jobs).
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "thread count must be at least 1, got \(count)")
        pools.withLock { state in
            state.threadCount = count
            if count > 1 && state.pools[count] == nil { state.pools[count] = ComputePool(threads: count) }
        }
    }

    /// The configured count and one pool per count ever configured. Pools are kept for the life of the
    /// process: their workers sleep when idle, and a job still running on an old pool stays valid.
    private struct PoolState {
        var threadCount = 1
        var pools: [Int: ComputePool] = [:]
    }

    private static let pools = Mutex(PoolState())

    private static var currentPool: ComputePool? {
        pools.withLock { $0.pools[$0.threadCount] }
    }

    /// Runs `body` on disjoint, contiguous chunks covering 0..<count; returns when all are done.
    /// Chunk boundaries are multiples of `alignment` (but the last). `body` must only write memory
    /// that belongs to its own chunk.
    public static func forEachChunk(of count: Int, minimumChunk: Int = 1, alignment: Int = 1,
                                    _ body: (Range<Int>) -> Void) {
        forEachChunk(of: count, minimumChunk: minimumChunk, alignment: alignment, maximumParts: .max) { range, _ in
            body(range)
        }
    }

    /// As `forEachChunk(of:minimumChunk:alignment:_:)`, in at most `maximumParts` parts, also passing
    /// each chunk's part number (below `maximumParts`): no two chunks running at the same time have the
    /// same part, so a body may use scratch memory of its part's own.
    public static func forEachChunk(of count: Int, minimumChunk: Int = 1, alignment: Int = 1, maximumParts: Int,
                                    _ body: (Range<Int>, _ part: Int) -> Void) {
        let threads = min(threadCount, maximumParts, max(count / max(minimumChunk, 1), 1))
        guard threads > 1 else {
            body(0..<count, 0)
            return
        }
        func run(_ part: Int) {
            let lower = min(count, (count * part / threads + alignment - 1) / alignment * alignment)
            let upper = part == threads - 1 ? count
                : min(count, (count * (part + 1) / threads + alignment - 1) / alignment * alignment)
            if lower < upper { body(lower..<upper, part) }
        }
        if let pool = currentPool, pool.threads >= threads {
            pool.run(parts: threads, run)
        } else {
            for part in 0..<threads { run(part) }
        }
    }
}
