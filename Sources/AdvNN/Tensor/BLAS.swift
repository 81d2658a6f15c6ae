import COpenBLAS

/// The only file that calls OpenBLAS. Every matrix product in AdvNN goes through `gemm`, which has a
/// naive twin (`gemmNaive`) that the tests use as the reference.
public enum BLAS {
    /// Sets how many threads OpenBLAS uses in this process (the daemon divides cores among jobs).
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "BLAS thread count must be at least 1, got \(count)")
        openblas_set_num_threads(Int32(count))
    }

    /// The number of threads OpenBLAS uses now.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// The CPU kernel OpenBLAS chose (for benchmark reports).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// C = alpha · op(A) · op(B) + beta · C, all row-major.
    ///
    /// op(A) is (m, k) and op(B) is (k, n); `transposeA` means A is stored as (k, m), `transposeB` that
    /// B is stored as (n, k). Leading dimensions default to dense storage.
    @inline(__always)
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda ?? (transposeA ? m : k)),
            b, Int32(ldb ?? (transposeB ? k : n)),
            beta, c, Int32(ldc ?? n)
        )
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
