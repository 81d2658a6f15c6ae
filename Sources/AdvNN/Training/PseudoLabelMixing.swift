/// Semi-supervised robust self-training (Carmon et al. 2019) interleaves batches of pseudo-labelled
/// examples with the labelled ones. This file holds the mixing settings, which batch each step of an
/// epoch draws, and the optimiser wrapper that weights a pseudo-labelled batch's gradient.

/// How pseudo-labelled batches mix with labelled ones.
public struct PseudoLabelMixing: Codable, Sendable, Equatable {
    /// Pseudo-labelled batches after every labelled batch (1: half of all steps, as in Carmon et al.).
    public var ratio = 1
    /// The factor on a pseudo-labelled batch's loss (and so its gradient): 1 treats pseudo-labels as
    /// labels; smaller trusts them less.
    public var weight: Float = 1

    public init(ratio: Int = 1, weight: Float = 1) {
        self.ratio = ratio
        self.weight = weight
    }

    func validate() throws {
        guard ratio >= 1 else { throw TrainingError("pseudo-labelled ratio must be at least 1, got \(ratio)") }
        guard weight > 0, weight.isFinite else { throw TrainingError("pseudo-labelled weight must be positive, got \(weight)") }
    }
}

/// Which examples one step of an epoch trains on. An epoch is one pass over the labelled split; with
/// mixing, every labelled batch is followed by `ratio` pseudo-labelled batches taken in order from the
/// epoch's permutation of the pool (wrapping around when the pool is smaller than what an epoch asks).
/// Everything is a function of (epoch, step), so a resumed run draws exactly the same batches.
public struct EpochBatchPlan: Sendable {
    public let labeledCount: Int
    /// 0: no pool.
    public let poolCount: Int
    public let batchSize: Int
    public let ratio: Int

    public init(labeledCount: Int, poolCount: Int, batchSize: Int, ratio: Int) {
        self.labeledCount = labeledCount
        self.poolCount = poolCount
        self.batchSize = batchSize
        self.ratio = ratio
    }

    public var labeledBatches: Int { (labeledCount + batchSize - 1) / batchSize }
    public var stepsPerEpoch: Int { labeledBatches * (poolCount > 0 ? 1 + ratio : 1) }

    public enum Source: Equatable, Sendable {
        case labeled(Range<Int>)
        /// Positions in the pool's permutation, taken modulo its size.
        case pool(Range<Int>)
    }

    /// The slice of the epoch's permutation that step `position` (0-based within the epoch) uses.
    public func source(ofStep position: Int) -> Source {
        guard poolCount > 0 else { return .labeled(labeledRange(batch: position)) }
        let cycle = 1 + ratio, (group, slot) = position.quotientAndRemainder(dividingBy: cycle)
        guard slot > 0 else { return .labeled(labeledRange(batch: group)) }
        let lower = (group * ratio + slot - 1) * batchSize
        return .pool(lower..<lower + batchSize)
    }

    private func labeledRange(batch: Int) -> Range<Int> {
        batch * batchSize..<min((batch + 1) * batchSize, labeledCount)
    }
}

/// An optimiser that multiplies the accumulated gradients by `weight` before each update, so a
/// training method's step on a pseudo-labelled batch counts `weight` times as much. Weight decay and
/// momentum still act in the wrapped optimiser exactly as usual.
final class GradientWeightingOptimizer: Optimizer {
    let base: any Optimizer
    let weight: Float

    init(_ base: any Optimizer, weight: Float) {
        self.base = base
        self.weight = weight
    }

    var learningRate: Float {
        get { base.learningRate }
        set { base.learningRate = newValue }
    }
    var stepCount: Int {
        get { base.stepCount }
        set { base.stepCount = newValue }
    }
    var compute: ComputeContext {
        get { base.compute }
        set { base.compute = newValue }
    }
    var parameters: [(name: String, parameter: Parameter)] { base.parameters }
    var namedState: [(name: String, tensor: Tensor)] { base.namedState }

    func step() {
        if weight != 1 {
            for (_, parameter) in base.parameters { parameter.gradient.scale(by: weight) }
        }
        base.step()
    }
}
