/// Batch normalisation over the channel axis (PyTorch's `nn.BatchNorm1d` / `nn.BatchNorm2d`).
/// - input: (N, C) or (N, C, H, W) → output: same shape
/// - weight γ, bias β: (C); buffers `running_mean`, `running_var`: (C)
///
/// Training mode normalises with the batch's statistics (biased variance) and updates the running
/// statistics with `momentum` (unbiased variance, as PyTorch does); evaluation mode uses the running
/// statistics, so the layer is then a fixed affine map — the mode attacks run in.
///
/// With `fusesReLU`, the layer is BN followed by a ReLU (a pre-activation block's BN → ReLU): the
/// affine map and the ReLU are one pass over the activations instead of two, and backward masks each
/// plane's gradient in an L1-sized scratch as it goes instead of in a pass of its own. Bit for bit the
/// same as `BatchNorm` then `ReLU`.
public final class BatchNorm: Layer {
    public var compute = ComputeContext.serial
    public let channels: Int
    public let epsilon: Float
    public let momentum: Float
    /// Whether a ReLU follows the normalisation in the same pass: output = max(BN(x), 0).
    public let fusesReLU: Bool
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Tensor
    public let runningVariance: Tensor
    public var isTraining = true

    private let output = Tensor(zeros: Shape(0))
    private let dInput = Tensor(zeros: Shape(0))
    private var input: Tensor?
    private var mean: [Float]             // per channel: the statistics this forward normalised with
    private var inverseStd: [Float]
    private var normalisedInTraining = true

    public init(channels: Int, epsilon: Float = 1e-5, momentum: Float = 0.1, fusesReLU: Bool = false) {
        self.channels = channels
        self.epsilon = epsilon
        self.momentum = momentum
        self.fusesReLU = fusesReLU
        weight = Parameter(Tensor(repeating: 1, shape: Shape(channels)))
        bias = Parameter(Tensor(zeros: Shape(channels)))
        runningMean = Tensor(zeros: Shape(channels))
        runningVariance = Tensor(repeating: 1, shape: Shape(channels))
        mean = Array(repeating: 0, count: channels)
        inverseStd = Array(repeating: 1, count: channels)
    }

    private init(sharing other: BatchNorm) {
        channels = other.channels
        epsilon = other.epsilon
        momentum = other.momentum
        fusesReLU = other.fusesReLU
        weight = other.weight
        bias = other.bias
        runningMean = other.runningMean
        runningVariance = other.runningVariance
        isTraining = other.isTraining
        mean = Array(repeating: 0, count: other.channels)
        inverseStd = Array(repeating: 1, count: other.channels)
    }

    public func replica() -> BatchNorm { BatchNorm(sharing: self).computing(like: self) }

    public var namedParameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }
    public var namedBuffers: [(name: String, tensor: Tensor)] {
        [("running_mean", runningMean), ("running_var", runningVariance)]
    }

    public func outputShape(for inputShape: Shape) -> Shape {
        precondition((inputShape.rank == 2 || inputShape.rank == 4) && inputShape[1] == channels,
                     "BatchNorm(\(channels)) got input \(inputShape)")
        return inputShape
    }

    /// Legend: N batch, C channels, S = H·W positions per channel, M = N·S values per channel.
    public func forward(_ input: Tensor) -> Tensor {
        output.resize(to: outputShape(for: input.shape))
        self.input = input
        normalisedInTraining = isTraining
        let N = input.shape[0], C = channels, S = input.shape.elementsPerItem / C, M = N * S
        let X = input.data, Y = output.data, gamma = weight.value.data, beta = bias.value.data
        let runMean = runningMean.data, runVar = runningVariance.data
        let training = isTraining, eps = epsilon, m = momentum, relu = fusesReLU
        mean.withUnsafeMutableBufferPointer { meanBuffer in
            inverseStd.withUnsafeMutableBufferPointer { rstdBuffer in
                let MEAN = meanBuffer.baseAddress!, RSTD = rstdBuffer.baseAddress!
                compute.forEachChunk(of: C) { range in
                    for c in range {
                        if training {
                            // batch statistics: each plane summed in SIMD lanes, the planes in Double;
                            // one pass for the mean, one for the variance
                            var sum = 0.0
                            for n in 0..<N { sum += Double(Elementwise.sum(X + (n * C + c) * S, count: S)) }
                            let mu = sum / Double(M)
                            var squares = 0.0
                            for n in 0..<N {
                                squares += Double(Elementwise.sumOfSquaredDeviations(X + (n * C + c) * S, from: Float(mu),
                                                                                     count: S))
                            }
                            let variance = squares / Double(M)
                            MEAN[c] = Float(mu)
                            RSTD[c] = Float(1 / (variance + Double(eps)).squareRoot())
                            let unbiased = M > 1 ? variance * Double(M) / Double(M - 1) : variance
                            runMean[c] = (1 - m) * runMean[c] + m * Float(mu)
                            runVar[c] = (1 - m) * runVar[c] + m * Float(unbiased)
                        } else {
                            (MEAN[c], RSTD[c]) = Self.runningStatistics(mean: runMean[c], variance: runVar[c], epsilon: eps)
                        }
                        // y = γ·(x − μ)·rstd + β, then max(y, 0) with a fused ReLU
                        let (scale, shift) = Self.affine(gamma: gamma[c], beta: beta[c], mean: MEAN[c], inverseStd: RSTD[c])
                        for n in 0..<N {
                            let x = X + (n * C + c) * S, y = Y + (n * C + c) * S
                            if relu {
                                Elementwise.affineReLU(x, scale: scale, shift: shift, into: y, count: S)
                            } else {
                                Elementwise.affine(x, scale: scale, shift: shift, into: y, count: S)
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    /// Evaluation mode with a fused ReLU: what `forward` does but write the output. It records `input`
    /// and the running statistics for `backward`, which never reads the output, and returns the map
    /// for the layers that read the output to apply as they read (convolutions, as they copy their input
    /// into padded planes): one pass over the activations fewer, and the same bits.
    public func deferredForward(_ input: Tensor) -> ChannelAffineReLU {
        precondition(!isTraining && fusesReLU, "BatchNorm.deferredForward needs evaluation mode and a fused ReLU")
        _ = outputShape(for: input.shape)
        self.input = input
        normalisedInTraining = false
        for c in 0..<channels {
            (mean[c], inverseStd[c]) = Self.runningStatistics(mean: runningMean[c], variance: runningVariance[c],
                                                              epsilon: epsilon)
        }
        return evaluationMap()
    }

    /// The evaluation-mode map with its ReLU, from the running statistics, recording nothing: for an
    /// inference no backward follows (`Sequential.infer` on image cells).
    func evaluationMap() -> ChannelAffineReLU {
        var scale = [Float](repeating: 0, count: channels), shift = [Float](repeating: 0, count: channels)
        for c in 0..<channels {
            let (mean, inverseStd) = Self.runningStatistics(mean: runningMean[c], variance: runningVariance[c],
                                                            epsilon: epsilon)
            (scale[c], shift[c]) = Self.affine(gamma: weight.value[c], beta: bias.value[c], mean: mean,
                                               inverseStd: inverseStd)
        }
        return ChannelAffineReLU(scale: scale, shift: shift)
    }

    /// Evaluation mode's mean and 1/√(variance + ε), from the running statistics.
    private static func runningStatistics(mean: Float, variance: Float, epsilon: Float) -> (mean: Float, inverseStd: Float) {
        (mean, 1 / (variance + epsilon).squareRoot())
    }

    /// The normalisation of a channel as one affine map, y = x·scale + shift: computed in one place, so
    /// that the backward's ReLU mask, recomputed from the input, is the forward's bit for bit.
    private static func affine(gamma: Float, beta: Float, mean: Float, inverseStd: Float) -> (scale: Float, shift: Float) {
        let scale = gamma * inverseStd
        return (scale, beta - mean * scale)
    }

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        guard let input else { preconditionFailure("BatchNorm.backward before forward") }
        precondition(dOutput.shape == input.shape, "BatchNorm dOutput \(dOutput.shape), input \(input.shape)")
        let N = input.shape[0], C = channels, S = input.shape.elementsPerItem / C, M = Float(N * S)
        if request.input { dInput.resize(to: input.shape) }
        let X = input.data, dY = dOutput.data, dX = dInput.data, gamma = weight.value.data, beta = bias.value.data
        let dGamma = weight.gradient.data, dBeta = bias.gradient.data
        let wantsInput = request.input, wantsParameters = request.parameters, training = normalisedInTraining
        let relu = fusesReLU
        // the sums feed the parameter gradients and, with batch statistics, the input gradient; an
        // attack's backward (input only, fixed statistics) skips their pass over dy and x
        let needsSums = wantsParameters || (wantsInput && training)
        mean.withUnsafeBufferPointer { meanBuffer in
            inverseStd.withUnsafeBufferPointer { rstdBuffer in
                let MEAN = meanBuffer.baseAddress!, RSTD = rstdBuffer.baseAddress!
                compute.forEachChunk(of: C) { range in
                    // dy of plane (n, c): dOutput's, or with a fused ReLU, dOutput's masked where the output
                    // was not positive, into one plane of scratch that stays in L1; the mask is redone for
                    // the plane's second read (keeping every masked plane would be the pass fusion saves).
                    // It is recomputed from the input, which both reads need anyway, rather than read from
                    // the output: one stream of the activations fewer.
                    let masked = relu ? UnsafeMutablePointer<Float>.allocate(capacity: S) : nil
                    defer { masked?.deallocate() }
                    func gradient(_ plane: Int, scale: Float, shift: Float) -> UnsafePointer<Float> {
                        guard let masked else { return UnsafePointer(dY + plane * S) }
                        Elementwise.maskAffinePositive(dY + plane * S, where: X + plane * S, scale: scale, shift: shift,
                                                       into: masked, count: S)
                        return UnsafePointer(masked)
                    }
                    for c in range {
                        let mu = MEAN[c], rstd = RSTD[c]
                        let (scale, shift) = Self.affine(gamma: gamma[c], beta: beta[c], mean: mu, inverseStd: rstd)
                        // (1) Σ dy and Σ dy·x̂, x̂ = (x − μ)·rstd: each plane in SIMD lanes, the planes in Double
                        var sumDyTotal = 0.0, sumDyDeviation = 0.0
                        for n in 0..<N where needsSums {
                            let plane = Elementwise.sumAndDeviationProduct(gradient(n * C + c, scale: scale, shift: shift),
                                                                           X + (n * C + c) * S,
                                                                           from: mu, count: S)
                            sumDyTotal += Double(plane.sum)
                            sumDyDeviation += Double(plane.product)
                        }
                        let sumDy = Float(sumDyTotal), sumDyXhat = Float(sumDyDeviation) * rstd
                        // (2) dβ += Σ dy, dγ += Σ dy·x̂
                        if wantsParameters { dBeta[c] += sumDy; dGamma[c] += sumDyXhat }
                        guard wantsInput else { continue }
                        for n in 0..<N {
                            let x = X + (n * C + c) * S, dx = dX + (n * C + c) * S
                            let dy = gradient(n * C + c, scale: scale, shift: shift)
                            if training {
                                // (3) batch statistics depend on x: dx = γ·rstd/M · (M·dy − Σdy − x̂·Σ(dy·x̂))
                                //     = γ·rstd·dy − γ·rstd²·Σ(dy·x̂)/M · (x − μ) − γ·rstd·Σdy/M
                                let k = gamma[c] * rstd / M
                                Elementwise.combine(dy, times: k * M, x, from: mu, times: -k * rstd * sumDyXhat,
                                                    plus: -k * sumDy, into: dx, count: S)
                            } else {
                                // (3') fixed statistics: dx = γ·rstd·dy
                                Elementwise.scale(dy, by: gamma[c] * rstd, into: dx, count: S)
                            }
                        }
                    }
                }
            }
        }
        return request.input ? dInput : nil
    }
}
