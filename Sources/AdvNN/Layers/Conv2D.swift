/// 2-D convolution (cross-correlation, as PyTorch's `nn.Conv2d`), by im2col + GEMM, or, for small
/// patches on CPUs with AVX2 or AVX-512, by direct kernels, or, for stride-1 5 × 5 layers with many
/// channels, by Winograd's minimal filtering (`algorithm`; the direct path is in Conv2D+Direct.swift,
/// where a strided or large-patch layer's direct forward is followed by the unrolled backward; the
/// Winograd path in Conv2D+Winograd.swift). What follows describes the unrolled path.
/// - input: (N, C, H, W) → output: (N, OC, OH, OW), OH = (H + 2·padding − KH) / stride + 1
/// - weight: (OC, C, KH, KW), PyTorch's layout; bias: (OC)
///
/// How the work is divided: the batch is cut into at most `groupCount` groups of images, and each
/// compute thread takes whole groups. Within a group, chunks of images whose column matrix
/// (C·KH·KW, chunk·OH·OW) fits in the cache (`columnBudget` floats) are unrolled and multiplied by one
/// single-threaded GEMM on the thread's own scratch, so a thread's columns never leave its cache and
/// no thread waits for another between the unrolling and the GEMM. Backward unrolls each chunk again
/// rather than keeping every column matrix: re-unrolling is cheaper than streaming them from memory
/// (measured), and it keeps the layer's memory small. When a patch has long channel runs
/// (`ConvolutionGeometry.unrollsChannelsLast`), backward unrolls channels last instead (im2row), which
/// copies and adds back runs of KW·C floats rather than rows of OW; so does the forward where output
/// rows are shorter than a vector (`forwardUnrollsChannelsLast`).
///
/// Determinism: the groups, chunks and GEMM shapes depend on the input shape alone; each group sums
/// its weight gradient in its own buffer, and the groups' sums are added in group order. So results
/// are bit-identical for any number of threads.
public final class Conv2D: Layer {
    public var compute = ComputeContext.serial
    public let geometry: ConvolutionGeometry
    public let weight: Parameter
    public let bias: Parameter?
    public var isTraining = true
    /// How the layer computes: `ConvolutionAlgorithm.preferred(for:)` unless set (a benchmark compares
    /// the two; results agree to rounding).
    public var algorithm: ConvolutionAlgorithm {
        didSet {
            precondition(algorithm.applies(to: geometry),
                         "direct convolution needs padding below the kernel size, got \(geometry)")
        }
    }
    /// Floats of column matrix per chunk: 2.5 MB, four of cnn-small's second-layer images. Measured
    /// on cnn-small, 1.2–10 MB: smaller chunks keep the columns closer to the core, larger ones make
    /// larger GEMMs; 2.5–4 MB balanced the two best, on one thread and on two.
    public static let columnBudget = 5 << 17
    /// Most groups a batch is cut into: enough for eight threads, evenly for 1, 2, 4 or 8.
    public static let groupCount = 8

    /// One compute thread's scratch for a chunk.
    final class Scratch {
        let columns = Tensor(zeros: Shape(0))      // (K, chunk·OHW), K = C·KH·KW; or the rows (chunk·OHW, K)
        let product = Tensor(zeros: Shape(0))      // (OC, chunk·OHW): the GEMM's output, or dOutput in its layout
        let dColumns = Tensor(zeros: Shape(0))     // (K, chunk·OHW), or (chunk·OHW, K) when unrolling by rows
        let paddedPlanes = Tensor(zeros: Shape(0)) // one zero-padded image, planes or channels last
    }

    private var scratch: [Scratch] = []
    /// The weights as the direct kernels read them, for the forward and for the input gradient.
    let packedWeights = Tensor(zeros: Shape(0))
    let packedGradientWeights = Tensor(zeros: Shape(0))
    /// Each group's weight gradient: (groups, K, OC), dWᵀ, when the backward unrolls by columns;
    /// (groups, OC, K) with K channels last when it unrolls by rows (see `ConvolutionGeometry.im2row`).
    /// (groups, OC, K) when it runs direct.
    let weightGradientParts = Tensor(zeros: Shape(0))
    private let weightChannelsLast = Tensor(zeros: Shape(0)) // (OC, K), K channels last: the rows' weights
    let biasGradientParts = Tensor(zeros: Shape(0))   // (groups, OC)
    let output = Tensor(zeros: Shape(0))
    /// The output of an inference on image cells (CellInference.swift).
    let cellOutput = Tensor(zeros: Shape(0))
    let dInput = Tensor(zeros: Shape(0))
    private var input: Tensor?
    /// The map the last forward applied to `input` as it read it (`forward(_:after:adding:)`); nil for
    /// a plain forward.
    private var inputActivation: ChannelAffineReLU?

    /// A convolution initialised as PyTorch's `nn.Conv2d` by default: uniform in ±1/√(C·KH·KW).
    public init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                hasBias: Bool = true, rng: inout RandomStream) {
        geometry = ConvolutionGeometry(inChannels: inChannels, outChannels: outChannels,
                                       kernelSize: kernelSize, stride: stride, padding: padding)
        let bound = Initialization.kaimingUniformBound(fanIn: geometry.patchSize)
        weight = Parameter(Initialization.uniform(
            Shape(outChannels, inChannels, kernelSize, kernelSize), bound: bound, rng: &rng))
        bias = hasBias ? Parameter(Initialization.uniform(Shape(outChannels), bound: bound, rng: &rng)) : nil
        algorithm = .preferred(for: geometry)
    }

    private init(sharing other: Conv2D) {
        geometry = other.geometry
        weight = other.weight
        bias = other.bias
        isTraining = other.isTraining
        algorithm = other.algorithm
        directBackward = other.directBackward
    }

    /// Whether a direct layer's backward runs direct too: nil (the default) gradient by gradient, where
    /// `ConvolutionAlgorithm.prefersDirectBackward(for:_:)` says so, unrolled elsewhere; true or false
    /// for both (a benchmark times each path, `advbench --conv-layers`).
    public var directBackward: Bool?

    /// Whether the backward computes `gradient` with the direct kernels.
    func computesDirect(_ gradient: ConvolutionGradient) -> Bool {
        algorithm == .direct && (directBackward ?? ConvolutionAlgorithm.prefersDirectBackward(for: geometry, gradient))
    }

    public func replica() -> Conv2D { Conv2D(sharing: self).computing(like: self) }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func outputShape(for inputShape: Shape) -> Shape {
        geometry.outputShape(for: inputShape)
    }

    // MARK: dividing the batch

    /// How many groups a batch of `images` images is cut into: contiguous, as equal as they can be.
    func groupCount(images: Int) -> Int { min(images, Self.groupCount) }

    /// Runs `body(images, group, scratch)` for every chunk of every group — consecutive ranges of at
    /// most `perChunk` images — with groups spread over the compute threads.
    func forEachChunk(images: Int, perChunk: Int,
                      _ body: (_ images: Range<Int>, _ group: Int, _ scratch: Scratch) -> Void) {
        let groups = groupCount(images: images)
        forEachPart(of: groups) { groupRange, scratch in
            for index in groupRange {
                let group = (images * index / groups)..<(images * (index + 1) / groups)
                for start in stride(from: group.lowerBound, to: group.upperBound, by: perChunk) {
                    body(start..<min(start + perChunk, group.upperBound), index, scratch)
                }
            }
        }
    }

    /// Runs `body(range, scratch)` over ranges of 0..<count spread over the compute threads, each
    /// with the scratch of its own thread.
    func forEachPart(of count: Int, _ body: (Range<Int>, Scratch) -> Void) {
        let threads = min(compute.threads, count)
        while scratch.count < threads { scratch.append(Scratch()) }
        compute.forEachChunk(of: count, maximumParts: threads) { range, part in body(range, scratch[part]) }
    }

    /// Images per chunk on the unrolled path: as many as fit their column matrices in `columnBudget`.
    private func unrolledImagesPerChunk(positions: Int) -> Int {
        max(1, Self.columnBudget / max(geometry.patchSize * positions, 1))
    }

    // MARK: forward

    public func forward(_ input: Tensor) -> Tensor {
        forward(input, residual: nil)
    }

    /// conv(input) + residual, the sum of a residual block: each image's output has the residual added
    /// while it is still in cache, instead of in a pass of its own. The backward is the convolution's
    /// (the sum's gradient reaches the residual's source directly). `residual` has the output's shape.
    public func forward(_ input: Tensor, adding residual: Tensor) -> Tensor {
        forward(input, residual: residual)
    }

    /// conv(activation(input)) (+ residual), where `activation` is an evaluation-mode BatchNorm's with
    /// its ReLU (`BatchNorm.deferredForward`), applied as each image is copied into its zero-padded
    /// planes (the direct path's, or im2col's and im2row's): the BN's output is never written, and the
    /// result is the same bits as the BN's forward and then this layer's. The backward's weight gradient
    /// applies it again as it copies.
    public func forward(_ input: Tensor, after activation: ChannelAffineReLU, adding residual: Tensor? = nil) -> Tensor {
        precondition(activation.scale.count == geometry.inChannels,
                     "Conv2D(\(geometry.inChannels) channels) got an activation of \(activation.scale.count)")
        return forward(input, residual: residual, activation: activation)
    }

    private func forward(_ input: Tensor, residual: Tensor?, activation: ChannelAffineReLU? = nil) -> Tensor {
        let outShape = outputShape(for: input.shape)
        precondition(residual.map { $0.shape == outShape } ?? true,
                     "Conv2D residual \(residual!.shape) vs output \(outShape)")
        self.input = input
        inputActivation = activation
        output.resize(to: outShape)
        let N = input.shape[0], OHW = outShape[2] * outShape[3]
        switch algorithm {
        case .direct:
            directForward(input, residual: residual, activation: activation)
            return output
        case .winograd:
            winogradForward(input, residual: residual, activation: activation)
            return output
        case .unrolled:
            break
        }
        let byRows = geometry.forwardUnrollsChannelsLast(outputWidth: outShape[3])
        if byRows { permuteWeightsChannelsLast() }
        forEachChunk(images: N, perChunk: unrolledImagesPerChunk(positions: OHW)) { images, _, scratch in
            forward(input, images: images, positions: OHW, byRows: byRows, residual: residual, activation: activation,
                    scratch: scratch)
        }
        return output
    }

    /// out[n] += residual[n] for the images of a chunk, just written.
    func addResidual(_ residual: Tensor?, images: Range<Int>) {
        guard let residual else { return }
        let perImage = output.shape.elementsPerItem, Y = output.data
        Elementwise.add(Y + images.lowerBound * perImage, residual.data + images.lowerBound * perImage,
                        into: Y + images.lowerBound * perImage, count: images.count * perImage)
    }

    /// out[n, oc] = the first OW floats of each of the OH rows at `source` (`rowStride` apart) + b[oc]
    /// (+ residual[n, oc]). Without a bias the residual is added as the plane is copied, the same single
    /// addition the separate pass would make; with a bias, the caller adds it after the chunk
    /// (`addResidual`), as the unrolled forward below does; with neither, a plain copy (x + 0 would turn
    /// −0 into +0). The direct and Winograd paths store their planes through it.
    func storeOutputPlane(_ source: UnsafePointer<Float>, rowStride: Int, image n: Int, channel oc: Int,
                          residual: Tensor?) {
        let OC = geometry.outChannels, OH = output.shape[2], OW = output.shape[3]
        let plane = (n * OC + oc) * OH * OW, Y = output.data, kernel = PlaneCopyKernel.fastest
        let addend = bias == nil ? residual.map { UnsafePointer($0.data + plane) } : nil
        if bias != nil || addend != nil {
            kernel.add(source, rows: OH, columns: OW, sourceRowStride: rowStride, addend: addend,
                       bias: bias?.value.data[oc] ?? 0, into: Y + plane, targetRowStride: OW)
        } else {
            kernel.copy(source, rows: OH, columns: OW, sourceRowStride: rowStride, columnStep: 1,
                        into: Y + plane, targetRowStride: OW, affine: nil)
        }
    }

    /// out[n, oc, :] = W · (columns of image n) + b[oc] (+ residual[n, oc, :]), for the images of one
    /// chunk, on this thread.
    private func forward(_ input: Tensor, images: Range<Int>, positions OHW: Int, byRows: Bool, residual: Tensor?,
                         activation: ChannelAffineReLU?, scratch: Scratch) {
        let OC = geometry.outChannels, K = geometry.patchSize, columnCount = images.count * OHW
        scratch.product.resize(to: Shape(OC, columnCount))
        if byRows {
            scratch.columns.resize(to: Shape(columnCount, K))
            geometry.im2row(input, images: images, into: scratch.columns, scratch: scratch.paddedPlanes,
                            activation: activation)
            // product (OC, chunk·OHW) = W (OC, K channels last) · rowsᵀ (K, chunk·OHW)
            BLAS.gemmOnThisThread(transposeB: true, m: OC, n: columnCount, k: K, a: weightChannelsLast.data,
                                  b: scratch.columns.data, c: scratch.product.data)
        } else {
            scratch.columns.resize(to: Shape(K, columnCount))
            geometry.im2col(input, images: images, into: scratch.columns, scratch: scratch.paddedPlanes,
                            activation: activation)
            // product (OC, chunk·OHW) = W (OC, K) · columns (K, chunk·OHW)
            BLAS.gemmOnThisThread(m: OC, n: columnCount, k: K, a: weight.value.data, b: scratch.columns.data,
                                  c: scratch.product.data)
        }
        // out[n, oc, :] = product[oc, (n − first)·OHW ..< …] + b[oc]
        let P = scratch.product.data, Y = output.data, B = bias?.value.data
        for (local, n) in images.enumerated() {
            for oc in 0..<OC {
                let source = P + oc * columnCount + local * OHW, target = Y + (n * OC + oc) * OHW
                let b = B?[oc] ?? 0
                for p in 0..<OHW { target[p] = source[p] + b }
            }
        }
        addResidual(residual, images: images)
    }

    // MARK: backward

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        guard let input else { preconditionFailure("Conv2D.backward before forward") }
        precondition(dOutput.shape == output.shape, "Conv2D dOutput \(dOutput.shape), output \(output.shape)")
        let N = input.shape[0], OC = geometry.outChannels, K = geometry.patchSize
        let OHW = output.shape[2] * output.shape[3], groups = groupCount(images: N)
        if algorithm == .winograd {
            winogradBackward(dOutput, input: input, activation: inputActivation, request: request)
            return request.input ? dInput : nil
        }
        // the direct kernels compute the gradients they are preferred for, the unrolled GEMMs the rest
        let direct = GradientRequest(input: request.input && computesDirect(.input),
                                     parameters: request.parameters && computesDirect(.weights))
        let unrolled = GradientRequest(input: request.input && !direct.input,
                                       parameters: request.parameters && !direct.parameters)
        if direct.input || direct.parameters {
            directBackward(dOutput, input: input, activation: inputActivation, request: direct)
        }
        guard unrolled.input || unrolled.parameters else { return request.input ? dInput : nil }
        if unrolled.input {
            dInput.resize(to: input.shape)
            if geometry.unrollsChannelsLast { permuteWeightsChannelsLast() }
        }
        if unrolled.parameters {
            weightGradientParts.resize(to: Shape(groups, K, OC))
            weightGradientParts.zero()
            biasGradientParts.resize(to: Shape(groups, OC))
            biasGradientParts.zero()
        }
        forEachChunk(images: N, perChunk: unrolledImagesPerChunk(positions: OHW)) { images, group, scratch in
            backward(dOutput, input: input, images: images, positions: OHW, group: group, request: unrolled,
                     scratch: scratch)
        }
        if unrolled.parameters && groups > 0 { addGroupGradients(groups: groups) }
        return request.input ? dInput : nil
    }

    /// The gradients of one chunk, on this thread: its weight and bias gradients into its group's part,
    /// its input gradient into `dInput`.
    private func backward(_ dOutput: Tensor, input: Tensor, images: Range<Int>, positions OHW: Int, group: Int,
                          request: GradientRequest, scratch: Scratch) {
        let OC = geometry.outChannels, K = geometry.patchSize, columnCount = images.count * OHW
        scratch.product.resize(to: Shape(OC, columnCount))
        // (1) dProduct[oc, (n − first)·OHW + p] = dOut[n, oc, p]: back to the GEMM's layout
        let dY = dOutput.data, dP = scratch.product.data
        for (local, n) in images.enumerated() {
            for oc in 0..<OC {
                (dP + oc * columnCount + local * OHW).update(from: dY + (n * OC + oc) * OHW, count: OHW)
            }
        }
        let byRows = geometry.unrollsChannelsLast
        if request.parameters {
            let part = weightGradientParts.data + group * K * OC
            if byRows {
                scratch.columns.resize(to: Shape(columnCount, K))
                geometry.im2row(input, images: images, into: scratch.columns, scratch: scratch.paddedPlanes,
                                activation: inputActivation)
                // (2) dW (OC, K) += dProduct (OC, chunk·OHW) · rows (chunk·OHW, K), K channels last
                BLAS.gemmOnThisThread(m: OC, n: K, k: columnCount, a: dP, b: scratch.columns.data, beta: 1, c: part)
            } else {
                scratch.columns.resize(to: Shape(K, columnCount))
                geometry.im2col(input, images: images, into: scratch.columns, scratch: scratch.paddedPlanes,
                                activation: inputActivation)
                // (2) dWᵀ (K, OC) += columns (K, chunk·OHW) · dProductᵀ (chunk·OHW, OC): the transposed
                // product, which OpenBLAS runs a third faster than dW = dProduct · columnsᵀ when OC and K
                // are both small (the first layer: 32 × 25)
                BLAS.gemmOnThisThread(transposeB: true, m: K, n: OC, k: columnCount, a: scratch.columns.data, b: dP,
                                      beta: 1, c: part)
            }
            // (3) db[oc] += Σ of row oc of dProduct
            if bias != nil {
                let dBias = biasGradientParts.data + group * OC
                for oc in 0..<OC { dBias[oc] += Elementwise.sum(dP + oc * columnCount, count: columnCount) }
            }
        }
        guard request.input else { return }
        if byRows {
            // (4) dRows (chunk·OHW, K) = dProductᵀ (chunk·OHW, OC) · W (OC, K); row2im adds it back
            scratch.dColumns.resize(to: Shape(columnCount, K))
            BLAS.gemmOnThisThread(transposeA: true, m: columnCount, n: K, k: OC, a: dP, b: weightChannelsLast.data,
                                  c: scratch.dColumns.data)
            geometry.row2im(scratch.dColumns, images: images, into: dInput, scratch: scratch.paddedPlanes)
        } else {
            // (4) dColumns (K, chunk·OHW) = Wᵀ (K, OC) · dProduct (OC, chunk·OHW); col2im adds it back
            scratch.dColumns.resize(to: Shape(K, columnCount))
            BLAS.gemmOnThisThread(transposeA: true, m: K, n: columnCount, k: OC, a: weight.value.data, b: dP,
                                  c: scratch.dColumns.data)
            geometry.col2im(scratch.dColumns, images: images, into: dInput, scratch: scratch.paddedPlanes)
        }
    }

    /// `weightChannelsLast` = W with each filter's elements in channels-last order (kh, kw, c).
    private func permuteWeightsChannelsLast() {
        let OC = geometry.outChannels, C = geometry.inChannels, KS = geometry.kernelSize, K = geometry.patchSize
        weightChannelsLast.resize(to: Shape(OC, K))
        let W = weight.value.data, permuted = weightChannelsLast.data
        for oc in 0..<OC {
            for c in 0..<C {
                for kh in 0..<KS {
                    for kw in 0..<KS {
                        permuted[oc * K + geometry.channelsLastIndex(channel: c, row: kh, column: kw)] =
                            W[oc * K + (c * KS + kh) * KS + kw]
                    }
                }
            }
        }
    }

    /// dW[oc, c, kh, kw] += Σ over groups, in group order, of their parts' entries for it; likewise the bias.
    func addGroupGradients(groups: Int) {
        let OC = geometry.outChannels, C = geometry.inChannels, KS = geometry.kernelSize, K = geometry.patchSize
        let parts = weightGradientParts.data, dW = weight.gradient.data
        let direct = computesDirect(.weights), byRows = geometry.unrollsChannelsLast
        compute.forEachChunk(of: OC) { channels in
            for oc in channels {
                for c in 0..<C {
                    for kh in 0..<KS {
                        for kw in 0..<KS {
                            let k = (c * KS + kh) * KS + kw
                            // where the parts keep it: dW as it is (direct), channels last, or dWᵀ
                            let entry = direct ? oc * K + k
                                : byRows ? oc * K + geometry.channelsLastIndex(channel: c, row: kh, column: kw)
                                : k * OC + oc
                            var sum = parts[entry]
                            for group in 1..<groups { sum += parts[group * K * OC + entry] }
                            dW[oc * K + k] += sum
                        }
                    }
                }
            }
        }
        addGroupBiasGradients(groups: groups)
    }

    /// The bias gradient of a chunk's images into its group's part: db[oc] += Σ dOutput[n, oc], read
    /// from dOutput's own planes (the direct and Winograd paths; the unrolled one sums its GEMM layout).
    func addBiasGradient(of dOutput: Tensor, images: Range<Int>, group: Int) {
        guard bias != nil else { return }
        let OC = geometry.outChannels, plane = dOutput.shape[2] * dOutput.shape[3], dY = dOutput.data
        let dBias = biasGradientParts.data + group * OC
        for n in images {
            for oc in 0..<OC { dBias[oc] += Elementwise.sum(dY + (n * OC + oc) * plane, count: plane) }
        }
    }

    /// db[oc] += Σ over groups, in group order, of their parts' entries for it.
    func addGroupBiasGradients(groups: Int) {
        guard let dBias = bias?.gradient.data else { return }
        let OC = geometry.outChannels, biasParts = biasGradientParts.data
        for oc in 0..<OC {
            var sum = biasParts[oc]
            for group in 1..<groups { sum += biasParts[group * OC + oc] }
            dBias[oc] += sum
        }
    }
}
