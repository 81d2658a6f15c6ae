/// 2-D convolution (cross-correlation, as PyTorch's `nn.Conv2d`) by im2col + one GEMM per batch.
/// - input: (N, C, H, W) → output: (N, OC, OH, OW), OH = (H + 2·padding − KH) / stride + 1
/// - weight: (OC, C, KH, KW), PyTorch's layout; bias: (OC)
///
/// The whole batch is unrolled into one column matrix of shape (C·KH·KW, N·OH·OW), so each pass is a
/// single large GEMM that OpenBLAS runs at close to its peak; the column matrix is kept for backward.
public final class Conv2D: Layer {
    public let geometry: ConvolutionGeometry
    public let weight: Parameter
    public let bias: Parameter?
    public var isTraining = true

    private let columns = Tensor(zeros: Shape(0))      // (K, N·OHW), K = C·KH·KW
    private let product = Tensor(zeros: Shape(0))      // (OC, N·OHW)
    private let dColumns = Tensor(zeros: Shape(0))     // (K, N·OHW)
    private let output = Tensor(zeros: Shape(0))
    private let dInput = Tensor(zeros: Shape(0))
    private var inputShape = Shape(0)

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

    public func forward(_ input: Tensor) -> Tensor {
        let outShape = outputShape(for: input.shape)
        inputShape = input.shape
        let N = input.shape[0], OC = geometry.outChannels, K = geometry.patchSize
        let OHW = outShape[2] * outShape[3], columnCount = N * OHW
        columns.resize(to: Shape(K, columnCount))
        product.resize(to: Shape(OC, columnCount))
        output.resize(to: outShape)
        geometry.im2col(input, into: columns)
        // product (OC, N·OHW) = W (OC, K) · columns (K, N·OHW)
        BLAS.gemm(m: OC, n: columnCount, k: K, a: weight.value.data, b: columns.data, c: product.data)
        // out[n, oc, :] = product[oc, n·OHW ..< (n+1)·OHW] + b[oc]
        let P = product.data, Y = output.data, B = bias?.value.data
        Parallel.forEachChunk(of: N) { images in
            for n in images {
                for oc in 0..<OC {
                    let source = P + oc * columnCount + n * OHW, target = Y + (n * OC + oc) * OHW
                    let b = B?[oc] ?? 0
                    for p in 0..<OHW { target[p] = source[p] + b }
                }
            }
        }
        return output
    }

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        precondition(dOutput.shape == output.shape, "Conv2D dOutput \(dOutput.shape), output \(output.shape)")
        let N = inputShape[0], OC = geometry.outChannels, K = geometry.patchSize
        let OHW = output.shape[2] * output.shape[3], columnCount = N * OHW
        // (1) dProduct[oc, n·OHW + p] = dOut[n, oc, p]: back to the GEMM's layout (reusing `product`).
        let dY = dOutput.data, dP = product.data
        Parallel.forEachChunk(of: N) { images in
            for n in images {
                for oc in 0..<OC {
                    (dP + oc * columnCount + n * OHW).update(from: dY + (n * OC + oc) * OHW, count: OHW)
                }
            }
        }
        if request.parameters {
            // (2) dW (OC, K) += dProduct (OC, N·OHW) · columnsᵀ (N·OHW, K)
            BLAS.gemm(transposeB: true, m: OC, n: K, k: columnCount,
                      a: dP, b: columns.data, beta: 1, c: weight.gradient.data)
            // (3) db[oc] += Σ over the row dProduct[oc, :]
            if let dBias = bias?.gradient.data {
                for oc in 0..<OC {
                    let row = dP + oc * columnCount
                    var sum: Float = 0
                    for j in 0..<columnCount { sum += row[j] }
                    dBias[oc] += sum
                }
            }
        }
        guard request.input else { return nil }
        // (4) dColumns (K, N·OHW) = Wᵀ (K, OC) · dProduct (OC, N·OHW), then col2im scatters it back.
        dColumns.resize(to: Shape(K, columnCount))
        BLAS.gemm(transposeA: true, m: K, n: columnCount, k: OC,
                  a: weight.value.data, b: dP, c: dColumns.data)
        dInput.resize(to: inputShape)
        geometry.col2im(dColumns, into: dInput)
        return dInput
    }
}
