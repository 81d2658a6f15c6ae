/// 2-D convolution (cross-correlation, as PyTorch's `nn.Conv2d`) by im2col + GEMM.
/// - input: (N, C, H, W) → output: (N, OC, OH, OW), OH = (H + 2·padding − KH) / stride + 1
/// - weight: (OC, C, KH, KW), PyTorch's layout; bias: (OC)
///
/// Images are processed in chunks whose column matrix (C·KH·KW, chunk·OH·OW) fits in the cache
/// (about `columnBudget` floats), so each chunk is one large GEMM over cache-resident columns. Backward
/// unrolls the chunk again rather than keeping every column matrix: re-unrolling is cheaper than
/// streaming them from memory, and it keeps the layer's memory small.
public final class Conv2D: Layer {
    public let geometry: ConvolutionGeometry
    public let weight: Parameter
    public let bias: Parameter?
    public var isTraining = true
    /// Floats of column matrix per chunk: 6 MB, within the L2/L3 cache of current CPUs.
    public static let columnBudget = 1 << 19 * 3

    private let columns = Tensor(zeros: Shape(0))      // (K, chunk·OHW), K = C·KH·KW
    private let product = Tensor(zeros: Shape(0))      // (OC, chunk·OHW): the GEMM's output, or dOutput in its layout
    private let dColumns = Tensor(zeros: Shape(0))     // (K, chunk·OHW)
    private let paddedPlanes = Tensor(zeros: Shape(0)) // im2col/col2im scratch: zero-padded input planes
    private let output = Tensor(zeros: Shape(0))
    private let dInput = Tensor(zeros: Shape(0))
    private var input: Tensor?

    /// A convolution initialised as PyTorch's `nn.Conv2d` by default: uniform in ±1/√(C·KH·KW).
    public init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                hasBias: Bool = true, rng: inout RandomStream) {
        geometry = ConvolutionGeometry(inChannels: inChannels, outChannels: outChannels,
                                       kernelSize: kernelSize, stride: stride, padding: padding)
        let bound = Initialization.kaimingUniformBound(fanIn: geometry.patchSize)
        weight = Parameter(Initialization.uniform(
            Shape(outChannels, inChannels, kernelSize, kernelSize), bound: bound, rng: &rng))
        bias = hasBias ? Parameter(Initialization.uniform(Shape(outChannels), bound: bound, rng: &rng)) : nil
    }

    private init(sharing other: Conv2D) {
        geometry = other.geometry
        weight = other.weight
        bias = other.bias
        isTraining = other.isTraining
    }

    public func replica() -> Conv2D { Conv2D(sharing: self) }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func outputShape(for inputShape: Shape) -> Shape {
        geometry.outputShape(for: inputShape)
    }

    /// The image ranges processed together, each with a column matrix within `columnBudget`.
    private func chunks(images: Int, positions: Int) -> StrideTo<Int> {
        stride(from: 0, to: images, by: imagesPerChunk(images: images, positions: positions))
    }

    private func imagesPerChunk(images: Int, positions: Int) -> Int {
        max(1, min(images, Self.columnBudget / max(geometry.patchSize * positions, 1)))
    }

    public func forward(_ input: Tensor) -> Tensor {
        let outShape = outputShape(for: input.shape)
        self.input = input
        output.resize(to: outShape)
        let N = input.shape[0], OC = geometry.outChannels, K = geometry.patchSize, OHW = outShape[2] * outShape[3]
        let perChunk = imagesPerChunk(images: N, positions: OHW)
        for start in chunks(images: N, positions: OHW) {
            let images = start..<min(start + perChunk, N), columnCount = images.count * OHW
            columns.resize(to: Shape(K, columnCount))
            product.resize(to: Shape(OC, columnCount))
            geometry.im2col(input, images: images, into: columns, scratch: paddedPlanes)
            // product (OC, chunk·OHW) = W (OC, K) · columns (K, chunk·OHW)
            BLAS.gemm(m: OC, n: columnCount, k: K, a: weight.value.data, b: columns.data, c: product.data)
            // out[n, oc, :] = product[oc, (n − start)·OHW ..< …] + b[oc]
            let P = product.data, Y = output.data, B = bias?.value.data
            Parallel.forEachChunk(of: images.count) { locals in
                for local in locals {
                    for oc in 0..<OC {
                        let source = P + oc * columnCount + local * OHW, target = Y + ((start + local) * OC + oc) * OHW
                        let b = B?[oc] ?? 0
                        for p in 0..<OHW { target[p] = source[p] + b }
                    }
                }
            }
        }
        return output
    }

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        guard let input else { preconditionFailure("Conv2D.backward before forward") }
        precondition(dOutput.shape == output.shape, "Conv2D dOutput \(dOutput.shape), output \(output.shape)")
        let N = input.shape[0], OC = geometry.outChannels, K = geometry.patchSize
        let OHW = output.shape[2] * output.shape[3]
        let perChunk = imagesPerChunk(images: N, positions: OHW)
        if request.input { dInput.resize(to: input.shape) }
        for start in chunks(images: N, positions: OHW) {
            let images = start..<min(start + perChunk, N), columnCount = images.count * OHW
            product.resize(to: Shape(OC, columnCount))
            // (1) dProduct[oc, (n − start)·OHW + p] = dOut[n, oc, p]: back to the GEMM's layout
            let dY = dOutput.data, dP = product.data
            Parallel.forEachChunk(of: images.count) { locals in
                for local in locals {
                    for oc in 0..<OC {
                        (dP + oc * columnCount + local * OHW).update(from: dY + ((start + local) * OC + oc) * OHW, count: OHW)
                    }
                }
            }
            if request.parameters {
                columns.resize(to: Shape(K, columnCount))
                geometry.im2col(input, images: images, into: columns, scratch: paddedPlanes)
                // (2) dW (OC, K) += dProduct (OC, chunk·OHW) · columnsᵀ (chunk·OHW, K)
                BLAS.gemm(transposeB: true, m: OC, n: K, k: columnCount,
                          a: dP, b: columns.data, beta: 1, c: weight.gradient.data)
                // (3) db[oc] += Σ of row oc of dProduct
                if let dBias = bias?.gradient.data {
                    Parallel.forEachChunk(of: OC) { channels in
                        for oc in channels { dBias[oc] += Elementwise.sum(dP + oc * columnCount, count: columnCount) }
                    }
                }
            }
            guard request.input else { continue }
            // (4) dColumns (K, chunk·OHW) = Wᵀ (K, OC) · dProduct (OC, chunk·OHW); col2im scatters it back
            dColumns.resize(to: Shape(K, columnCount))
            BLAS.gemm(transposeA: true, m: K, n: columnCount, k: OC, a: weight.value.data, b: dP, c: dColumns.data)
            geometry.col2im(dColumns, images: images, into: dInput, scratch: paddedPlanes)
        }
        return request.input ? dInput : nil
    }
}
