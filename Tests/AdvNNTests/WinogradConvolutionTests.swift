import AdvNN
import Testing

/// The Winograd convolution against the unrolled one on the same parameters (forward and every
/// gradient) and against finite differences (its bits for any thread count, its gradient requests and its accumulation: `ConvolutionTests`).
@Suite struct WinogradConvolutionTests {
    /// (in channels, out channels, kernel, padding, height, width, bias): F(2, 5) and F(4, 3); padding 0
    /// to r − 1 (the input gradient's padding r − 1 − P from r − 1 down to 0); outputs that the tiles
    /// cover exactly and ones with a partial last tile row and column; rows of 1, 8 and 20 tiles (a
    /// block of eight with the spare lanes, exactly one block, and a second, partial one); a single
    /// input or output channel; cnn-small's second layer (32 → 64, 14 × 14), in several chunks.
    @Test(arguments: [(3, 5, 5, 2, 14, 14, true), (2, 3, 5, 0, 9, 11, true), (4, 4, 5, 4, 6, 7, false),
                      (3, 4, 3, 1, 9, 8, true), (5, 2, 3, 0, 11, 13, false), (2, 3, 3, 2, 6, 5, true),
                      (1, 6, 5, 2, 16, 16, true), (6, 1, 3, 1, 8, 40, true), (3, 3, 5, 2, 7, 40, false),
                      (32, 64, 5, 2, 14, 14, true)])
    func matchesTheUnrolledConvolution(inChannels: Int, outChannels: Int, kernel: Int, padding: Int, height: Int,
                                       width: Int, hasBias: Bool) {
        var rng = RandomStream(seed: 41)
        let unrolled = Conv2D(inChannels: inChannels, outChannels: outChannels, kernelSize: kernel, padding: padding,
                              hasBias: hasBias, rng: &rng)
        let input = Tensor(zeros: Shape(inChannels == 32 ? 12 : 3, inChannels, height, width))
        GradientCheck.fill(input, rng: &rng)
        // the transforms' rounding (a few ulps of sums over many products) on top of the GEMMs'
        ConvolutionComparison.expectAgreement(unrolled, algorithm: .winograd, input: input, tolerance: 2e-5, rng: &rng)
    }

    /// Every gradient against finite differences of the Winograd forward itself.
    @Test(arguments: [(2, 3, 5, 2), (3, 2, 3, 1), (2, 2, 5, 0), (2, 3, 3, 2)])
    func gradientsMatchFiniteDifferences(inChannels: Int, outChannels: Int, kernel: Int, padding: Int) {
        var rng = RandomStream(seed: 42)
        let layer = Conv2D(inChannels: inChannels, outChannels: outChannels, kernelSize: kernel, padding: padding,
                           rng: &rng)
        layer.algorithm = .winograd
        let input = Tensor(zeros: Shape(2, inChannels, 7, 6))
        GradientCheck.fill(input, rng: &rng)
        GradientCheck.checkLayer(layer, input: input, step: 0.25, rng: &rng)
    }

    @Test func appliesToStrideOneThreeAndFiveKernelsOnly() {
        func geometry(_ kernel: Int, stride: Int = 1, padding: Int = 0) -> ConvolutionGeometry {
            ConvolutionGeometry(inChannels: 2, outChannels: 2, kernelSize: kernel, stride: stride, padding: padding)
        }
        #expect(ConvolutionAlgorithm.winograd.applies(to: geometry(3, padding: 1)))
        #expect(ConvolutionAlgorithm.winograd.applies(to: geometry(5, padding: 4)))
        #expect(!ConvolutionAlgorithm.winograd.applies(to: geometry(5, padding: 5)))
        #expect(!ConvolutionAlgorithm.winograd.applies(to: geometry(3, stride: 2, padding: 1)))
        #expect(!ConvolutionAlgorithm.winograd.applies(to: geometry(1)))
        #expect(!ConvolutionAlgorithm.winograd.applies(to: geometry(7, padding: 3)))
    }
}
