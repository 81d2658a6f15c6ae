/// How a `Conv2D` computes.
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    /// im2col (or im2row) and one GEMM per chunk of images: any stride, any CPU.
    case unrolled
    /// The direct kernels of `CKernels` (AVX-512, or AVX2 and FMA): no unrolled copy. Layers with small
    /// patches (the ResNet's 16-channel 3×3 layers, LeNet's) spend more time unrolling and packing than
    /// multiplying; the direct kernels read the padded images in place. Strided layers read their input
    /// split into phase planes; a forward of 14 or more images with a patch of 64 or more runs on image
    /// cells instead (`ImageCellConvolution`). The backward runs direct where the stride is 1 and the
    /// patch at most `directBackwardPatchLimit`, and unrolled elsewhere.
    case direct
    /// Winograd's minimal filtering (`WinogradConvolution`): F(2 × 2, 5 × 5) for 5 × 5 kernels and
    /// F(4 × 4, 3 × 3) for 3 × 3 ones, stride 1; the products of the transformed tiles are 36 GEMMs per
    /// chunk, 2.8 (5 × 5) or 4 (3 × 3) times fewer multiplications than the correlation. Forward and
    /// backward both; results agree with the other paths to rounding (the transforms add a few ulps).
    case winograd

    /// Whether this CPU runs the direct kernels (AVX-512, or AVX2 with FMA).
    public static let directIsAvailable = DirectConvolutionKernel.fastest != .portable

    /// Whether a layer of `geometry` can compute this way: unrolled always, direct where the padding is
    /// below the kernel size, Winograd where `WinogradConvolution.applies(to:)`.
    public func applies(to geometry: ConvolutionGeometry) -> Bool {
        switch self {
        case .unrolled: true
        case .direct: DirectConvolution.applies(to: geometry)
        case .winograd: WinogradConvolution.applies(to: geometry)
        }
    }

    /// What a layer of `geometry` uses unless told otherwise: Winograd for 5 × 5 layers with at least
    /// `winogradChannelMinimum` input and output channels; direct for layers with patches of at most
    /// `directForwardPatchLimit` elements, where the CPU runs the kernels; unrolled otherwise.
    public static func preferred(for geometry: ConvolutionGeometry) -> ConvolutionAlgorithm {
        if ConvolutionAlgorithm.winograd.applies(to: geometry) && geometry.kernelSize == 5
            && min(geometry.inChannels, geometry.outChannels) >= winogradChannelMinimum {
            return .winograd
        }
        return directIsAvailable && ConvolutionAlgorithm.direct.applies(to: geometry)
            && geometry.patchSize <= directForwardPatchLimit ? .direct : .unrolled
    }

    /// The fewest input and output channels of a layer that runs Winograd unless told otherwise: the
    /// channels are the inner dimension of its GEMMs (the inputs' in the forward, the outputs' in the
    /// input gradient), and the transforms' cost per channel is the same however few there are.
    public static let winogradChannelMinimum = 16

    /// The largest patch (C·KS²) whose forward runs direct. The ResNet's 64-channel 7 × 7 stage (576)
    /// runs direct since its padding is a vector copy in C (`PlaneCopy`) and inference goes chunk by
    /// chunk (`Sequential.infer`): one thread, batch 32 and 128, on the Zen 5 VM, inference
    /// 7,420–7,592 → 8,101–8,129 samples/s, two threads 14,505–14,561 → 15,306 (medians of three
    /// alternating rounds). `cnn-small`'s 800 stays unrolled.
    public static let directForwardPatchLimit = 576

    /// The largest patch whose backward runs direct (a stride-1 layer's; a strided one's backward is
    /// unrolled). Measured with `advbench --profile --convolution` on the 2-core AMD EPYC (Zen, AVX2),
    /// batch 128, one thread: direct is faster for patches of 25 (cnn-small's and LeNet's first
    /// layers), 150 (LeNet's second) and 144 (the ResNet's first stage, a training step's blocks 108 →
    /// 65 ms), even at 288 (its second stage), and slower at 576 (its third, the weight gradient of
    /// 7 × 7 planes dominated by its reductions) and 800 (cnn-small's second layer, 138 → 176 ms), whose
    /// GEMMs are wide enough for OpenBLAS to run near its peak.
    public static let directBackwardPatchLimit = 288
}
