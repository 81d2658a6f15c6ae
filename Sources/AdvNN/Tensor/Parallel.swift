import Dispatch

/// Splits a loop over independent items (images of a batch) across as many threads as OpenBLAS is
/// allowed, so im2col, col2im and pooling keep pace with the GEMMs. With one thread it is a plain loop.
public enum Parallel {
    /// Runs `body` on disjoint, contiguous chunks covering 0..<count; returns when all are done.
    /// `body` must only write memory that belongs to its own chunk.
    public static func forEachChunk(of count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let threads = min(BLAS.threadCount, max(count / max(minimumChunk, 1), 1))
        guard threads > 1 else {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { escapable in
            let work = UncheckedSendable(escapable)
            DispatchQueue.concurrentPerform(iterations: threads) { part in
                let lower = count * part / threads
                let upper = count * (part + 1) / threads
                work.value(lower..<upper)
            }
        }
    }
}

/// Carries a value that is safe to share by construction (disjoint writes) across a concurrency boundary.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
