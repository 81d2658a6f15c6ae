/// SiLU (sigmoid-weighted linear unit, "swish"): output = x·σ(x), elementwise, any shape. Smooth where
/// ReLU has a kink, which gives adversarial training better input gradients (Xie et al. 2020, "Smooth
/// Adversarial Training", arXiv:2006.14536; Gowal et al. 2020 use it too). Unlike ReLU it is not
/// monotone (it dips to −0.28 near x = −1.28), so it does not commute with max pooling: architectures
/// apply it before pooling, in PyTorch's order. Forward keeps σ(x) and the input for the backward.
public final class SiLU: Layer {
    public var compute = ComputeContext.serial
    public var isTraining = true
    private let output = Tensor(zeros: Shape(0))
    private let sigmoid = Tensor(zeros: Shape(0))
    private let dInput = Tensor(zeros: Shape(0))
    private var input: Tensor?

    public init() {}

    public func replica() -> SiLU { SiLU().computing(like: self) }

    public func outputShape(for inputShape: Shape) -> Shape { inputShape }

    public func forward(_ input: Tensor) -> Tensor {
        self.input = input
        output.resize(to: input.shape)
        sigmoid.resize(to: input.shape)
        let x = input.data, y = output.data, s = sigmoid.data
        compute.forEachChunk(of: input.count, minimumChunk: ReLU.minimumChunk, alignment: 16) { range in
            Elementwise.silu(x + range.lowerBound, into: y + range.lowerBound, sigmoid: s + range.lowerBound, count: range.count)
        }
        return output
    }

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        guard request.input else { return nil }
        guard let input else { preconditionFailure("SiLU.backward before forward") }
        precondition(dOutput.shape == output.shape, "SiLU dOutput \(dOutput.shape), output \(output.shape)")
        dInput.resize(to: dOutput.shape)
        let g = dOutput.data, x = input.data, s = sigmoid.data, d = dInput.data
        compute.forEachChunk(of: dOutput.count, minimumChunk: ReLU.minimumChunk, alignment: 16) { range in
            Elementwise.siluBackward(g + range.lowerBound, input: x + range.lowerBound, sigmoid: s + range.lowerBound,
                                     into: d + range.lowerBound, count: range.count)
        }
        return dInput
    }
}
