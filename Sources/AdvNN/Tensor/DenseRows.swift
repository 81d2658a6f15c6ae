import CKernels

/// The kernels of `dense_rows.h`: a fully connected layer's forward, out = in · Wᵀ + b, as tiles of dot
/// products read straight from the input's and the weights' rows, with no packing. For the few rows of
/// a small batch OpenBLAS spends about a sixth of its time packing the weights again on every call
/// (perf, the MLPs' batch-32 inference). `advbench --dense-layers` (one thread, the 2-core AMD EPYC Zen 4
/// VM, against OpenBLAS's Haswell kernel with the bias filled first, as `Linear` computes otherwise) on
/// the MLPs', `cnn-small`'s and LeNet's layers: the AVX-512 kernel ran 1.57–2.15× OpenBLAS at 8 rows,
/// 1.09–1.34× at 32, 0.95–1.21× at 64 and 0.77–1.09× at 128 on the wide layers, and 1.12–2.91× on the
/// 10-wide output layers at any of those; the AVX2 kernel 1.16–1.91× at 8 rows, 0.79–1.17× at 32 (the
/// slowest on `cnn-small`'s 3136 → 1024) and 1.05–2.63× on the 10-wide layers. `preferred` keeps to
/// where each won everywhere. (Measured on Zen 4 alone: an AVX2-only CPU such as Zen 3 may differ.)
///
/// Each output's sum is formed the same way wherever it falls in a tile, so any division of the rows
/// or columns gives the same bits: `Linear` divides the columns among its threads freely.
public enum DenseRowsKernel: String, CaseIterable, Sendable {
    case avx512, avx2, portable

    /// Whether this CPU has the kernel's instructions.
    public var isAvailable: Bool {
        switch self {
        case .avx512: DirectConvolutionKernel.avx512.isAvailable
        case .avx2: DirectConvolutionKernel.avx2.isAvailable
        case .portable: true
        }
    }

    /// The widest this CPU runs.
    public static let fastest: DenseRowsKernel = [.avx512, .avx2].first { $0.isAvailable } ?? .portable

    /// Outputs below this many make a layer narrow enough that OpenBLAS's panels are mostly padding
    /// (a classifier's 10 logits): the dense kernels won at every batch measured, up to 128 rows.
    public static let narrowOutputs = 32

    /// The kernel a product of `rows` input rows and `outputs` weight rows runs on, nil where OpenBLAS
    /// is faster: AVX-512 up to 32 rows, AVX2 up to 8, either for narrow outputs up to 128 rows. A
    /// function of the shape and the CPU alone, never of the thread count.
    public static func preferred(rows: Int, outputs: Int) -> DenseRowsKernel? {
        let narrow = outputs < narrowOutputs && rows <= 128
        switch fastest {
        case .avx512: return rows <= 32 || narrow ? .avx512 : nil
        case .avx2: return rows <= 8 || narrow ? .avx2 : nil
        case .portable: return nil
        }
    }

    /// output[i·outputStride + j] = Σₖ input[i·inputs + k] · weight[j·inputs + k] + bias[j] for i < rows,
    /// j < outputs.
    public func forward(_ input: UnsafePointer<Float>, rows: Int, inputs: Int, weight: UnsafePointer<Float>,
                        outputs: Int, bias: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
                        outputStride: Int) {
        switch self {
        case .avx512:
            adv_dense_rows_avx512(input, rows, inputs, weight, outputs, bias, output, outputStride)
        case .avx2:
            adv_dense_rows_avx2(input, rows, inputs, weight, outputs, bias, output, outputStride)
        case .portable:
            adv_dense_rows_portable(input, rows, inputs, weight, outputs, bias, output, outputStride)
        }
    }
}
