import CKernels

/// The kernels of `dense_rows.h`: a fully connected layer's forward, out = in · Wᵀ + b, as tiles of dot
/// products read straight from the input's and the weights' rows, with no packing. For the few rows of
/// a small batch OpenBLAS spends a sixth of its time packing the weights; measured with one thread on
/// the 2-core AMD EPYC Zen 4 VM (C benchmark, best of seven, against OpenBLAS's Haswell kernel with the
/// bias filled first, as `Linear` did): the AVX-512 kernel at 32 rows ran 1.08–1.29× OpenBLAS on the MLPs'
/// and cnn-small's layers (784→256, 256→256, 784→1024, 1024→1024, 3136→1024), at 8 rows 1.9–2.0×, and on
/// 10-wide output layers 1.4–3× at any batch up to 128; at 64 rows 0.95–1.15× and at 128 0.88–1.02×.
/// The AVX2 kernel (2 × 4 tiles, all sixteen registers) ran 0.87–0.98× at 32 rows, 1.3–1.7× at 8, and
/// 1.15–2.9× on 10-wide outputs. `preferred` encodes those measurements.
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
    /// (a classifier's 10 logits): the dense kernels win at any batch measured.
    static let narrowOutputs = 32

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
