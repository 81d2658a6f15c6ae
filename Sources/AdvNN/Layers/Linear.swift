/// Fully connected layer: output = input · weightᵀ + bias.
/// - input: (N, inFeatures) → output: (N, outFeatures)
/// - weight: (outFeatures, inFeatures), PyTorch's layout; bias: (outFeatures)
public final class Linear: Layer {
    public var compute = ComputeContext.serial
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter
    public var isTraining = true
    /// Whether the forward also applies the ReLU that follows this layer, block by block while each is
    /// in cache (set by `Sequential`, whose ReLU then takes this output as its own: `ReLU.inputIsRectified`).
    public var rectifiesOutput = false

    private let output = Tensor(zeros: Shape(0, 0))
    private let dInput = Tensor(zeros: Shape(0, 0))
    /// The narrow kernels' scratch (`DenseRowsKernel.narrowScratchFloats`), shared by the threads' columns.
    private let narrowScratch = Tensor(zeros: Shape(0))
    private var input: Tensor?

    /// A layer initialised as PyTorch's `nn.Linear` does by default: weight and bias uniform in
    /// ±1/√inFeatures (Kaiming-uniform with a = √5).
    public init(inFeatures: Int, outFeatures: Int, rng: inout RandomStream) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = Initialization.kaimingUniformBound(fanIn: inFeatures)
        weight = Parameter(Initialization.uniform(Shape(outFeatures, inFeatures), bound: bound, rng: &rng))
        bias = Parameter(Initialization.uniform(Shape(outFeatures), bound: bound, rng: &rng))
    }

    private init(sharing other: Linear) {
        inFeatures = other.inFeatures
        outFeatures = other.outFeatures
        weight = other.weight
        bias = other.bias
        isTraining = other.isTraining
        rectifiesOutput = other.rectifiesOutput
    }

    /// A thread's least share of the bias gradient's pass over dOutput: 2¹⁵ elements, as `ReLU`'s
    /// (below that, waking a second thread costs more than it saves), in columns of `rows` (at least one
    /// 16-wide vector).
    static func minimumColumnsPerChunk(rows: Int) -> Int { max(16, ReLU.minimumChunk / max(rows, 1)) }

    public func replica() -> Linear { Linear(sharing: self).computing(like: self) }

    public var namedParameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }

    public func outputShape(for inputShape: Shape) -> Shape {
        precondition(inputShape.rank == 2 && inputShape[1] == inFeatures,
                     "Linear(\(inFeatures)→\(outFeatures)) got input \(inputShape)")
        return Shape(inputShape[0], outFeatures)
    }

    public func forward(_ input: Tensor) -> Tensor {
        output.resize(to: outputShape(for: input.shape))
        self.input = input
        let N = input.shape[0], I = inFeatures, O = outFeatures
        let b = bias.value.data, y = output.data
        // local functions, passed on as non-escaping closures: no allocation per call
        let rectifies = rectifiesOutput
        /// max(0, ·) on the output's rows and columns, in place, when this layer rectifies its output
        func rectify(_ rows: Range<Int>, _ columns: Range<Int>) {
            guard rectifies else { return }
            for n in rows {
                let row = y + n * O + columns.lowerBound
                Elementwise.relu(row, into: row, count: columns.count)
            }
        }
        /// out[n, columns] = b[columns]
        func fillBias(_ rows: Range<Int>, _ columns: Range<Int>) {
            for n in rows { Elementwise.copyRow(b + columns.lowerBound, to: y + n * O + columns.lowerBound, count: columns.count) }
        }
        if let kernel = DenseRowsKernel.preferred(rows: N, outputs: O) {
            // a few rows, or a narrow layer: dot products read in place, the columns shared among the
            // threads (any division gives the same bits), each share at least a GEMM block's work
            let x = input.data, w = weight.value.data
            compute.forEachChunk(of: O, minimumChunk: max(4, BLAS.splitThreshold / max(N * I, 1)), alignment: 4) { columns in
                let j = columns.lowerBound
                kernel.forward(x, rows: N, inputs: I, weight: w + j * I, outputs: columns.count, bias: b + j,
                               into: y + j, outputStride: O)
                rectify(0..<N, columns)
            }
            return output
        }
        // out[n, :] = b, then out += in · Wᵀ: each GEMM block fills its bias in before its product (at
        // batch 512 of a 1024-wide layer the fill is 2 MB of stores) and rectifies after it
        BLAS.gemm(transposeB: true, m: N, n: O, k: I, a: input.data, b: weight.value.data, beta: 1, c: y, on: compute,
                  before: fillBias, after: rectify)
        return output
    }

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        guard let input else { preconditionFailure("Linear.backward before forward") }
        let N = input.shape[0], I = inFeatures, O = outFeatures
        precondition(dOutput.shape == Shape(N, O), "Linear dOutput \(dOutput.shape), expected \(Shape(N, O))")
        // a narrow layer (a classifier head): both products on the narrow kernels, the columns shared
        // among the threads (any division gives the same bits), each share at least a GEMM block's work
        let narrow = DenseRowsKernel.narrowBackward(rows: N, outputs: O)
        let minimumColumns = max(16, BLAS.splitThreshold / max(N * O, 1))
        if narrow != nil { narrowScratch.resize(to: Shape(DenseRowsKernel.narrowScratchFloats(outputs: O, columns: I))) }
        let scratch = narrowScratch.data
        if request.parameters {
            // (1) dW += dOutᵀ · in      (O, N)·(N, I)
            if let narrow {
                let g = dOutput.data, x = input.data, dW = weight.gradient.data
                compute.forEachChunk(of: I, minimumChunk: minimumColumns, alignment: 16) { columns in
                    let c = columns.lowerBound
                    narrow.narrowWeightGradient(g, rows: N, outputs: O, input: x + c, columns: columns.count,
                                                stride: I, into: dW + c, scratch: scratch + c * O)
                }
            } else {
                BLAS.gemm(transposeA: true, m: O, n: I, k: N,
                          a: dOutput.data, b: input.data, beta: 1, c: weight.gradient.data, on: compute)
            }
            // (2) db += Σₙ dOut[n, :], each thread summing a block of columns over all rows in the
            // order of n, so the sums do not depend on the thread count
            let dBias = bias.gradient.data, g = dOutput.data
            compute.forEachChunk(of: O, minimumChunk: Self.minimumColumnsPerChunk(rows: N), alignment: 16) { columns in
                for n in 0..<N {
                    Elementwise.addRow(g + n * O + columns.lowerBound, to: dBias + columns.lowerBound, count: columns.count)
                }
            }
        }
        guard request.input else { return nil }
        // (3) dIn = dOut · W           (N, O)·(O, I)
        dInput.resize(to: input.shape)
        if let narrow {
            let g = dOutput.data, w = weight.value.data, dX = dInput.data
            compute.forEachChunk(of: I, minimumChunk: minimumColumns, alignment: 16) { columns in
                let c = columns.lowerBound
                narrow.narrowInputGradient(g, rows: N, outputs: O, weight: w + c, columns: columns.count, stride: I,
                                           into: dX + c, scratch: scratch + c * O)
            }
        } else {
            BLAS.gemm(m: N, n: I, k: O, a: dOutput.data, b: weight.value.data, c: dInput.data, on: compute)
        }
        return dInput
    }
}
