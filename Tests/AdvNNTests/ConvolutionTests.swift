import AdvNN
import Testing

/// The im2col convolution against a direct, naive convolution (its twin), and im2col/col2im adjointness.
@Suite struct ConvolutionTests {
    /// Direct cross-correlation with zero padding: the definition, one output at a time.
    static func naiveConvolution(_ input: Tensor, _ layer: Conv2D) -> Tensor {
        let g = layer.geometry
        let outShape = layer.outputShape(for: input.shape)
        let out = Tensor(zeros: outShape)
        let N = input.shape[0], C = g.inChannels, H = input.shape[2], W = input.shape[3]
        let OC = g.outChannels, OH = outShape[2], OW = outShape[3], K = g.kernelSize
        for n in 0..<N { for oc in 0..<OC { for oh in 0..<OH { for ow in 0..<OW {
            var sum = Double(layer.bias?.value[oc] ?? 0)
            for c in 0..<C { for kh in 0..<K { for kw in 0..<K {
                let ih = oh * g.stride - g.padding + kh, iw = ow * g.stride - g.padding + kw
                guard ih >= 0, ih < H, iw >= 0, iw < W else { continue }
                sum += Double(input[((n * C + c) * H + ih) * W + iw]) * Double(layer.weight.value[((oc * C + c) * K + kh) * K + kw])
            } } }
            out[((n * OC + oc) * OH + oh) * OW + ow] = Float(sum)
        } } } }
        return out
    }

    @Test(arguments: [(1, 0, 3), (1, 2, 5), (2, 1, 3), (3, 1, 4), (1, 0, 1)])
    func matchesDirectConvolution(stride: Int, padding: Int, kernel: Int) {
        var rng = RandomStream(seed: 21)
        let layer = Conv2D(inChannels: 3, outChannels: 4, kernelSize: kernel, stride: stride, padding: padding, rng: &rng)
        let input = Tensor(zeros: Shape(2, 3, 9, 8))
        GradientCheck.fill(input, rng: &rng)
        let fast = layer.forward(input), naive = Self.naiveConvolution(input, layer)
        #expect(fast.shape == naive.shape)
        for i in 0..<fast.count { #expect(abs(fast[i] - naive[i]) < 1e-5) }
    }

    @Test func knownOutputOfA3x3Kernel() {
        var rng = RandomStream(seed: 1)
        let layer = Conv2D(inChannels: 1, outChannels: 1, kernelSize: 3, padding: 1, hasBias: false, rng: &rng)
        layer.weight.value.fill(1)
        let input = Tensor(shape: Shape(1, 1, 2, 2), scalars: [1, 2, 3, 4])
        // with padding 1, every 3×3 window over a 2×2 image covers all four pixels
        #expect(layer.forward(input).scalars == [10, 10, 10, 10])
    }

    @Test func col2imIsTheAdjointOfIm2col() {
        // ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩ for any x, y
        var rng = RandomStream(seed: 22)
        let geometry = ConvolutionGeometry(inChannels: 2, outChannels: 1, kernelSize: 3, stride: 2, padding: 1)
        let x = Tensor(zeros: Shape(2, 2, 7, 6))
        GradientCheck.fill(x, rng: &rng)
        let outShape = geometry.outputShape(for: x.shape)
        let columns = Tensor(zeros: Shape(geometry.patchSize, 2 * outShape[2] * outShape[3]))
        geometry.im2col(x, images: 0..<2, into: columns, scratch: Tensor(zeros: Shape(0)))
        let y = Tensor(zeros: columns.shape)
        GradientCheck.fill(y, rng: &rng)
        let back = Tensor(zeros: x.shape)
        geometry.col2im(y, images: 0..<2, into: back, scratch: Tensor(zeros: Shape(0)))
        let left = GradientCheck.projection(columns, with: y), right = GradientCheck.projection(x, with: back)
        #expect(abs(left - right) < 1e-4 * max(1, abs(left)))
    }
}
