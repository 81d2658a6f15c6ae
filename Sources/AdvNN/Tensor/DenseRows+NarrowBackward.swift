import CKernels

/// The backward of a narrow layer (dense_narrow.h): a classifier head's weight and input gradients,
/// products with one side of a few outputs, on which OpenBLAS ran at about half its speed on the wide
/// layers.
extension DenseRowsKernel {
    /// The kernel a layer of `outputs` outputs computes its two gradients on for a batch of `rows`, nil
    /// where OpenBLAS does: layers narrower than `narrowOutputs`, on AVX-512 at any batch and on AVX2
    /// from 128 rows. `advbench --dense-layers` (one thread, the 2-core AMD EPYC Zen 4 VM, against
    /// OpenBLAS's Haswell kernel) on the ten-class heads of 84, 256 and 1024 inputs: AVX-512 ran 1.25–1.33×
    /// OpenBLAS at 32 rows and 1.64–2.06× at 128 and 512; AVX2 0.91–0.94× at 32 rows and 1.12–1.38× at
    /// 128 and 512 (measured on Zen 4 alone: an AVX2-only CPU such as Zen 3 may differ). A function of
    /// the shape and the CPU alone, never of the thread count.
    public static func narrowBackward(rows: Int, outputs: Int) -> DenseRowsKernel? {
        guard outputs < narrowOutputs else { return nil }
        switch fastest {
        case .avx512: return .avx512
        case .avx2: return rows >= 128 ? .avx2 : nil
        case .portable: return nil
        }
    }

    /// Floats of scratch a call on `columns` columns of a layer with `outputs` outputs needs. A call on
    /// columns from c on (a multiple of 16) may take its scratch from c · outputs on: the calls on a
    /// division of the columns into blocks of multiples of 16 then share one scratch of this size for
    /// all the columns.
    public static func narrowScratchFloats(outputs: Int, columns: Int) -> Int { outputs * ((columns + 15) / 16 * 16) }

    /// dWeight[o·stride + c] += Σₙ dOutput[n·outputs + o] · input[n·stride + c] for o < outputs,
    /// c < columns: the weight gradient's `columns` columns from the pointers given.
    public func narrowWeightGradient(_ dOutput: UnsafePointer<Float>, rows: Int, outputs: Int,
                                     input: UnsafePointer<Float>, columns: Int, stride: Int,
                                     into dWeight: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        switch self {
        case .avx512: adv_narrow_weight_gradient_avx512(dOutput, rows, outputs, input, columns, stride, dWeight, scratch)
        case .avx2: adv_narrow_weight_gradient_avx2(dOutput, rows, outputs, input, columns, stride, dWeight, scratch)
        case .portable:
            adv_narrow_weight_gradient_portable(dOutput, rows, outputs, input, columns, stride, dWeight, scratch)
        }
    }

    /// dInput[n·stride + c] = Σₒ dOutput[n·outputs + o] · weight[o·stride + c] for n < rows, c < columns:
    /// the input gradient's `columns` columns from the pointers given.
    public func narrowInputGradient(_ dOutput: UnsafePointer<Float>, rows: Int, outputs: Int,
                                    weight: UnsafePointer<Float>, columns: Int, stride: Int,
                                    into dInput: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        switch self {
        case .avx512: adv_narrow_input_gradient_avx512(dOutput, rows, outputs, weight, columns, stride, dInput, scratch)
        case .avx2: adv_narrow_input_gradient_avx2(dOutput, rows, outputs, weight, columns, stride, dInput, scratch)
        case .portable: adv_narrow_input_gradient_portable(dOutput, rows, outputs, weight, columns, stride, dInput, scratch)
        }
    }
}
