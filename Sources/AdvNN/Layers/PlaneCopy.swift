import CKernels

/// The plane copies around the direct kernels and im2col (`plane_copies.h`): rows of a plane into rows
/// of a padded layout, or a strided grid of it into a phase plane, through an evaluation-mode
/// BatchNorm's map where there is one; and the kernels' flat output rows out into NCHW planes, with a
/// bias or a residual. AVX-512 or AVX2 masked vectors where the CPU has them (no scalar tails on rows of 7 or 14
/// floats), else the portable twin; all three give the same bits (tested).
public enum PlaneCopyKernel: String, CaseIterable, Sendable {
    case avx512, avx2, portable

    /// The widest this CPU runs: the direct convolution's choice.
    public static let fastest: PlaneCopyKernel = switch DirectConvolutionKernel.fastest {
    case .avx512: .avx512
    case .avx2: .avx2
    case .portable: .portable
    }

    public var isAvailable: Bool {
        switch self {
        case .avx512: DirectConvolutionKernel.avx512.isAvailable
        case .avx2: DirectConvolutionKernel.avx2.isAvailable
        case .portable: true
        }
    }

    /// target[r·targetRowStride + j] = source[r·sourceRowStride + j·columnStep] for r < rows, j < columns,
    /// through `affine` (scale and shift, then the ReLU) when it is not nil.
    public func copy(_ source: UnsafePointer<Float>, rows: Int, columns: Int, sourceRowStride: Int, columnStep: Int,
                     into target: UnsafeMutablePointer<Float>, targetRowStride: Int, affine: UnsafePointer<Float>?) {
        switch self {
        case .avx512:
            adv_copy_plane_avx512(source, rows, columns, sourceRowStride, columnStep, target, targetRowStride, affine)
        case .avx2:
            adv_copy_plane_avx2(source, rows, columns, sourceRowStride, columnStep, target, targetRowStride, affine)
        case .portable:
            adv_copy_plane_portable(source, rows, columns, sourceRowStride, columnStep, target, targetRowStride, affine)
        }
    }

    /// target[r·targetRowStride + j] = source[r·sourceRowStride + j] + (addend's same entry, or `bias`
    /// where there is no addend) for r < rows, j < columns.
    public func add(_ source: UnsafePointer<Float>, rows: Int, columns: Int, sourceRowStride: Int,
                    addend: UnsafePointer<Float>?, bias: Float, into target: UnsafeMutablePointer<Float>,
                    targetRowStride: Int) {
        switch self {
        case .avx512:
            adv_add_plane_avx512(source, rows, columns, sourceRowStride, addend, bias, target, targetRowStride)
        case .avx2:
            adv_add_plane_avx2(source, rows, columns, sourceRowStride, addend, bias, target, targetRowStride)
        case .portable:
            adv_add_plane_portable(source, rows, columns, sourceRowStride, addend, bias, target, targetRowStride)
        }
    }

    /// target[r·targetRowStride + 2j] = even[r·sourceRowStride + j] and target[r·targetRowStride + 2j + 1]
    /// = odd[r·sourceRowStride + j] for r < rows and the target columns below `columns`, a nil phase
    /// reading as zeros (`adv_interleave_plane`).
    public func interleave(even: UnsafePointer<Float>?, odd: UnsafePointer<Float>?, rows: Int, columns: Int,
                           sourceRowStride: Int, into target: UnsafeMutablePointer<Float>, targetRowStride: Int) {
        switch self {
        case .avx512:
            adv_interleave_plane_avx512(even, odd, rows, columns, sourceRowStride, target, targetRowStride)
        case .avx2:
            adv_interleave_plane_avx2(even, odd, rows, columns, sourceRowStride, target, targetRowStride)
        case .portable:
            adv_interleave_plane_portable(even, odd, rows, columns, sourceRowStride, target, targetRowStride)
        }
    }

    /// One channel of `images` (at most 16) images, `imageStride` apart, padded, rows `rows` of it into
    /// rows of cells (`adv_cells_pad_plane`), through `affine` when it is not nil.
    public func padCells(_ source: UnsafePointer<Float>, images: Int, imageStride: Int, height: Int, width: Int,
                         padding: Int, rows: Range<Int>, into target: UnsafeMutablePointer<Float>,
                         affine: UnsafePointer<Float>?) {
        let first = rows.lowerBound, count = rows.count
        switch self {
        case .avx512:
            adv_cells_pad_plane_avx512(source, images, imageStride, height, width, padding, first, count, target, affine)
        case .avx2:
            adv_cells_pad_plane_avx2(source, images, imageStride, height, width, padding, first, count, target, affine)
        case .portable:
            adv_cells_pad_plane_portable(source, images, imageStride, height, width, padding, first, count, target, affine)
        }
    }

    /// `count` output cells into `images` planes `imageStride` apart (`adv_cells_store_plane`), plus
    /// the addend's same entries, or the bias where there is no addend, or unchanged.
    public func storeCells(_ source: UnsafePointer<Float>, count: Int, images: Int, addend: UnsafePointer<Float>?,
                           bias: UnsafePointer<Float>?, into target: UnsafeMutablePointer<Float>, imageStride: Int) {
        switch self {
        case .avx512: adv_cells_store_plane_avx512(source, count, images, addend, bias, target, imageStride)
        case .avx2: adv_cells_store_plane_avx2(source, count, images, addend, bias, target, imageStride)
        case .portable: adv_cells_store_plane_portable(source, count, images, addend, bias, target, imageStride)
        }
    }
}

enum PlaneCopy {
    /// One plane's copy on the fastest kernel, through channel `channel`'s map of `activation` if any.
    @inline(__always)
    static func copy(_ source: UnsafePointer<Float>, rows: Int, columns: Int, sourceRowStride: Int, columnStep: Int,
                     into target: UnsafeMutablePointer<Float>, targetRowStride: Int, activation: ChannelAffineReLU?,
                     channel: Int) {
        let kernel = PlaneCopyKernel.fastest
        guard let activation else {
            kernel.copy(source, rows: rows, columns: columns, sourceRowStride: sourceRowStride, columnStep: columnStep,
                        into: target, targetRowStride: targetRowStride, affine: nil)
            return
        }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2) { affine in
            affine[0] = activation.scale[channel]
            affine[1] = activation.shift[channel]
            kernel.copy(source, rows: rows, columns: columns, sourceRowStride: sourceRowStride, columnStep: columnStep,
                        into: target, targetRowStride: targetRowStride, affine: affine.baseAddress!)
        }
    }
}
