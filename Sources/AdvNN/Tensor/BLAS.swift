import COpenBLAS
import Foundation

/// The only file that calls OpenBLAS. Every matrix product in AdvNN goes through `gemm`, which has a
/// naive twin (`gemmNaive`) that the tests use as the reference, except where advd's own kernels
/// compute it: `Linear`'s forward for small batches (`DenseRowsKernel`) and the direct convolutions.
public enum BLAS {
    /// The CPU kernel OpenBLAS chose (for benchmark reports).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS's build: version and options, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    /// Read once per process: `openblas_get_config` assembles its answer in one static buffer with
    /// strcpy and strcat, so two threads asking at once got "MAX_THREADS=64 MAX_THREADS=64" (seen in
    /// the test suite, whose suites run in parallel); a static's initialiser runs exactly once.
    public static let configuration: String = {
        guard let text = openblas_get_config() else { return "OpenBLAS (configuration unknown)" }
        return String(cString: text).trimmingCharacters(in: .whitespaces)
    }()

    /// The largest difference between OpenBLAS and the naive GEMM on a small random product (129 × 200
    /// × 333): some OpenBLAS kernels compute wrong results on CPUs they were not written for.
    public static func largestErrorAgainstNaive() -> Float {
        var rng = RandomStream(seed: 5, purpose: "blas.verify")
        let m = 129, n = 200, k = 333
        let a = Tensor(zeros: Shape(m, k)), b = Tensor(zeros: Shape(k, n))
        for i in 0..<a.count { a[i] = rng.nextFloat(in: -1, 1) }
        for i in 0..<b.count { b[i] = rng.nextFloat(in: -1, 1) }
        let fast = Tensor(zeros: Shape(m, n)), naive = Tensor(zeros: Shape(m, n))
        gemm(m: m, n: n, k: k, a: a.data, b: b.data, c: fast.data, on: .serial)
        gemmNaive(m: m, n: n, k: k, a: a.data, b: b.data, c: naive.data)
        return (0..<fast.count).map { abs(fast[$0] - naive[$0]) }.max() ?? 0
    }

    /// Below this many multiply–adds a GEMM is one OpenBLAS call: splitting would cost more than it saves.
    static let splitThreshold = 1 << 18
    /// How many blocks a GEMM runs in when it splits `extent` columns (or rows) of C, none narrower
    /// than `narrowest`: four where each keeps at least 256, else two, else one — 1, 2 or 4, so that
    /// two or four threads share them evenly. Every block packs the operand it does not split again,
    /// so more, narrower blocks cost OpenBLAS efficiency even on one thread: eight blocks made
    /// cnn-small's training step a third slower, and two blocks of the MLP's 256 columns (or 512 rows)
    /// instead of four ran its rows 1.01–1.05× as fast on one thread and 0.98–1.05× on two (medians of
    /// six alternating advbench rounds, Zen 4 VM; the other models within 0.95–1.04×). The price: a
    /// product under 1024 wide uses at most two threads on a bigger machine.
    static func blockCount(extent: Int, narrowest: Int) -> Int {
        if extent >= 4 * 256 { return 4 }
        return extent >= 2 * narrowest ? 2 : 1
    }

    /// C = alpha · op(A) · op(B) + beta · C, all row-major.
    ///
    /// op(A) is (m, k) and op(B) is (k, n); `transposeA` means A is stored as (k, m), `transposeB` that
    /// B is stored as (n, k). Leading dimensions default to dense storage.
    ///
    /// Large products are split into two or four blocks of columns of C (of rows, when C is taller than
    /// wide), each one single-threaded OpenBLAS call, and the blocks are shared among `compute`'s threads.
    /// The blocks depend on the shape alone, never on the thread count: OpenBLAS's rounding depends on
    /// the block it is given, so this is what makes results identical for any number of threads.
    ///
    /// `before` and `after` run on the thread that computes each block, just before and just after its
    /// product, with the block's rows and columns of C: `Linear` fills its bias in and applies the ReLU
    /// that follows it there, while the block is in that core's cache, on every thread, and with no
    /// parallel region of their own. (Non-escaping, so passing them allocates nothing.)
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
        on compute: ComputeContext,
        before: (_ rows: Range<Int>, _ columns: Range<Int>) -> Void = { _, _ in },
        after: (_ rows: Range<Int>, _ columns: Range<Int>) -> Void = { _, _ in }
    ) {
        let lda = lda ?? (transposeA ? m : k), ldb = ldb ?? (transposeB ? k : n), ldc = ldc ?? n
        // Split the wider of C's dimensions, in blocks of at least 32 columns or 16 rows; a C that is
        // small both ways (a convolution's dW with a huge k) stays one call, which reads A and B once.
        // Every block packs the operand it does not split anew (all of A, m × k, for a block of
        // columns; all of B, k × n, for a block of rows), so the wider dimension is also the one whose
        // split repeats the smaller packing.
        let splitsColumns = n >= 64 && n >= m
        let extent = splitsColumns ? n : m, alignment = splitsColumns ? 16 : 4
        let blocks = m * n * k < splitThreshold ? 1 : blockCount(extent: extent, narrowest: splitsColumns ? 32 : 16)
        guard blocks > 1 else {
            before(0..<m, 0..<n)
            sgemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            after(0..<m, 0..<n)
            return
        }
        /// Block `index` covers these columns (or rows): equal shares on aligned boundaries.
        func block(_ index: Int) -> Range<Int> {
            let lower = index == 0 ? 0 : (extent * index / blocks) / alignment * alignment
            let upper = index == blocks - 1 ? extent : (extent * (index + 1) / blocks) / alignment * alignment
            return lower..<upper
        }
        compute.forEachChunk(of: blocks) { indices in
            for index in indices {
                let range = block(index)
                let rows = splitsColumns ? 0..<m : range, columns = splitsColumns ? range : 0..<n
                before(rows, columns)
                defer { after(rows, columns) }
                if splitsColumns {
                    // B's columns start at +j (row j when B is stored transposed); C's at +j
                    let j = range.lowerBound
                    sgemm(transposeA, transposeB, m, range.count, k, alpha, a, lda,
                          b + (transposeB ? j * ldb : j), ldb, beta, c + j, ldc)
                } else {
                    // A's rows start at row i (column i when A is stored transposed); C's at row i
                    let i = range.lowerBound
                    sgemm(transposeA, transposeB, range.count, n, k, alpha, a + (transposeA ? i : i * lda), lda,
                          b, ldb, beta, c + i * ldc, ldc)
                }
            }
        }
    }

    /// `gemm` as one single-threaded OpenBLAS call on the calling thread, for callers that divide the
    /// work among the threads themselves (the convolution gives each thread whole chunks of images).
    public static func gemmOnThisThread(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        sgemm(transposeA, transposeB, m, n, k, alpha, a, lda ?? (transposeA ? m : k), b, ldb ?? (transposeB ? k : n),
              beta, c, ldc ?? n)
    }

    /// OpenBLAS single-threaded before its first use: with its own
    /// threads, concurrent calls from several of our threads deadlock inside OpenBLAS 0.3.21 (seen in
    /// the test suite, whose suites run in parallel), and its rounding would depend on its split.
    private static let openBLASSingleThreaded: Void = openblas_set_num_threads(1)

    @inline(__always)
    private static func sgemm(
        _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
    ) {
        _ = openBLASSingleThreaded
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The textbook triple loop computing exactly what `gemm` computes, accumulating in Double.
    public static func gemmNaive(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        beta: Float = 0, c: UnsafeMutablePointer<Float>
    ) {
        for row in 0..<m {
            for column in 0..<n {
                var sum = 0.0
                for inner in 0..<k {
                    let aValue = transposeA ? a[inner * m + row] : a[row * k + inner]
                    let bValue = transposeB ? b[column * k + inner] : b[inner * n + column]
                    sum += Double(aValue) * Double(bValue)
                }
                let previous = beta == 0 ? 0 : Double(beta) * Double(c[row * n + column])
                c[row * n + column] = Float(Double(alpha) * sum + previous)
            }
        }
    }
}
