/// How a `Conv2D` computes.
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    /// im2col (or im2row) and one GEMM per chunk of images: any stride, any CPU.
    case unrolled
    /// The direct kernels of `CKernels` (AVX-512, or AVX2 and FMA): no unrolled copy. Layers with small
    /// patches (the ResNet's 16-channel 3×3 layers, LeNet's) spend more time unrolling and packing than
    /// multiplying; the direct kernels read the padded images in place. Strided layers read their input
    /// split into phase planes; a forward of 14 or more images with a patch of 64 or more runs on image
    /// cells instead (`ImageCellConvolution`). The backward runs direct, or unrolled, gradient by
    /// gradient where `prefersDirectBackward(for:_:)` says so; a strided layer's input gradient goes
    /// phase by phase.
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

    /// The largest patch whose backward runs direct (a stride-1 layer's; a strided layer's input
    /// gradient). Measured with `advbench --profile --convolution` on the 2-core AMD EPYC (Zen, AVX2),
    /// batch 128, one thread: direct is faster for patches of 25 (cnn-small's and LeNet's first
    /// layers), 150 (LeNet's second) and 144 (the ResNet's first stage, a training step's blocks 108 →
    /// 65 ms), even at 288 (its second stage), and slower at 576 (its third, the weight gradient of
    /// 7 × 7 planes dominated by its reductions) and 800 (cnn-small's second layer, 138 → 176 ms), whose
    /// GEMMs are wide enough for OpenBLAS to run near its peak.
    public static let directBackwardPatchLimit = 288

    /// The largest patch whose weight gradient runs direct in a strided layer (of a kernel larger than
    /// 1 × 1). `advbench --conv-layers` on the 2-core AMD EPYC Zen 4 VM (AVX-512), one thread, ms at
    /// batch 32 / 128 / 512, direct against unrolled: the ResNet's 16 → 32 stride-2 layer (patch 144,
    /// 14 × 14 outputs) 0.96 / 4.57 / 17.40 against 1.08 / 5.20 / 21.36, and its input gradient
    /// 0.73 / 3.68 / 13.60 against 1.05 / 4.72 / 18.11; the 32 → 64 one (288, 7 × 7 outputs, whose
    /// weight gradient is dominated by its reductions as the stride-1 64-channel layer's is)
    /// 1.26 / 5.03 / 19.39 against 0.90 / 3.60 / 15.35, and its input gradient 0.85 / 3.31 / 13.71
    /// against 0.78 / 3.75 / 16.51. The 1 × 1 shortcuts' weight gradients: 0.22 / 1.45 / 6.23 against
    /// 0.25 / 1.29 / 5.61 (16 → 32) and 0.36 / 0.98 / 6.08 against 0.22 / 0.90 / 4.03 (32 → 64), their
    /// input gradients 0.17 / 0.93 / 4.28 against 0.23 / 1.44 / 5.90 and 0.16 / 0.70 / 3.25 against
    /// 0.23 / 0.93 / 4.22.
    public static let directStridedWeightGradientPatchLimit = 144

    /// Whether a direct layer of `geometry` computes `gradient` direct unless told otherwise: at stride 1
    /// both gradients within `directBackwardPatchLimit`; at stride s the input gradient too (phase by
    /// phase, `DirectConvolution`), the weight gradient within `directStridedWeightGradientPatchLimit`
    /// and never for a 1 × 1 kernel, whose single tap gives the kernel four FMAs for every five loads.
    public static func prefersDirectBackward(for geometry: ConvolutionGeometry, _ gradient: ConvolutionGradient) -> Bool {
        guard geometry.stride > 1 && gradient == .weights else { return geometry.patchSize <= directBackwardPatchLimit }
        return geometry.kernelSize > 1 && geometry.patchSize <= directStridedWeightGradientPatchLimit
    }
}

/// The gradients a convolution's backward computes, each by its own path (`Conv2D.directBackward`).
public enum ConvolutionGradient: Sendable {
    /// The gradient with respect to the layer's input.
    case input
    /// The weight and bias gradients.
    case weights
}
