/// Rectified linear unit: output = max(0, input), elementwise. Any shape.
/// The loops run on SIMD vectors: a per-element branch on the sign would mispredict half the time.
public final class ReLU: Layer {
    public var compute = ComputeContext.serial
    public var isTraining = true
    /// Whether the input arrives rectified already (a `Linear` before it that `rectifiesOutput`, as
    /// `Sequential` arranges): the forward then passes it on as its output, with no pass of its own.
    public var inputIsRectified = false
    private let ownOutput = Tensor(zeros: Shape(0))
    /// The last forward's output, whose signs the backward reads: `ownOutput`, or the rectified input.
    private var output: Tensor
    private let dInput = Tensor(zeros: Shape(0))

    /// Elements below which a ReLU runs on one thread: waking a second costs more than it saves.
    static let minimumChunk = 1 << 15

    public init() { output = ownOutput }

    public func replica() -> ReLU {
        let copy = ReLU().computing(like: self)
        copy.inputIsRectified = inputIsRectified
        return copy
    }

    public func outputShape(for inputShape: Shape) -> Shape { inputShape }

    public func forward(_ input: Tensor) -> Tensor {
        if inputIsRectified {
            output = input
            return input
        }
        output = ownOutput
        output.resize(to: input.shape)
        let x = input.data, y = output.data
        compute.forEachChunk(of: input.count, minimumChunk: Self.minimumChunk, alignment: 16) { range in
            Elementwise.relu(x + range.lowerBound, into: y + range.lowerBound, count: range.count)
        }
        return output
    }

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        guard request.input else { return nil }
        precondition(dOutput.shape == output.shape, "ReLU dOutput \(dOutput.shape), output \(output.shape)")
        dInput.resize(to: dOutput.shape)
        // dIn = dOut where the output was positive (the subgradient at 0 is taken as 0, as PyTorch does)
        let g = dOutput.data, y = output.data, d = dInput.data
        compute.forEachChunk(of: dOutput.count, minimumChunk: Self.minimumChunk, alignment: 16) { range in
            Elementwise.maskPositive(g + range.lowerBound, where: y + range.lowerBound, into: d + range.lowerBound,
                                     count: range.count)
        }
        return dInput
    }
}
