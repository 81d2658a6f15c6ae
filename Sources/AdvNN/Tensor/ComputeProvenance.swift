import Foundation

/// What produced a number: the processor, the BLAS library and the kernel it ran, and the threads.
/// Every `metrics.json` and report carries it, and the daemon shows it, so a result never hides which
/// machine made it (the same binaries ran 0.24× to 1.7× PyTorch on one machine depending on the kernel).
public struct ComputeProvenance: Codable, Equatable, Sendable {
    /// The processor: its model name, family and model (`CPUFeatures.description`).
    public var cpu: String
    /// The BLAS library's build, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public var blas: String
    /// The kernel (OpenBLAS core) the process ran.
    public var kernel: String
    /// Why that kernel: chosen by OpenBLAS, pinned by the environment, or raised by advd.
    public var kernelNote: String
    public var threads: Int

    public init(cpu: String, blas: String, kernel: String, kernelNote: String, threads: Int) {
        self.cpu = cpu
        self.blas = blas
        self.kernel = kernel
        self.kernelNote = kernelNote
        self.threads = threads
    }

    /// This process's, on `threads` compute threads.
    public static func current(threads: Int) -> ComputeProvenance {
        ComputeProvenance(cpu: CPUFeatures.current.description, blas: BLAS.configuration, kernel: BLAS.coreName,
                          kernelNote: KernelSelection.note, threads: threads)
    }

    /// One line: "AMD EPYC, family 26 model 2; OpenBLAS 0.3.21 …; kernel Zen: OpenBLAS chose Zen, …; 2 threads".
    public var summary: String {
        "\(cpu); \(blas); \(kernelNote); \(Wording.counted(threads, "thread"))"
    }

    /// GFLOP/s of one single-threaded sgemm of `size`³ (a quick gauge of the kernel, not a benchmark).
    public static func quickSgemmGflops(size n: Int = 512) -> Double {
        let a = Tensor(repeating: 0.5, shape: Shape(n, n)), b = Tensor(repeating: 0.25, shape: Shape(n, n))
        let c = Tensor(zeros: Shape(n, n))
        BLAS.gemm(m: n, n: n, k: n, a: a.data, b: b.data, c: c.data, on: .serial)   // warm-up
        let rounds = 3, started = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<rounds { BLAS.gemm(m: n, n: n, k: n, a: a.data, b: b.data, c: c.data, on: .serial) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return 2 * Double(n * n * n) * Double(rounds) / max(seconds, 1e-9) / 1e9
    }
}
