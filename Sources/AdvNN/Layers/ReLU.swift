/// Rectified linear unit: output = max(0, input), elementwise. Any shape.
/// The loops run on SIMD vectors: a per-element branch on the sign would mispredict half the time.
public final class ReLU: Layer {
    public var isTraining = true
    private let output = Tensor(zeros: Shape(0))
    private let dInput = Tensor(zeros: Shape(0))

    public init() {}

    public func replica() -> ReLU { ReLU() }

    public func outputShape(for inputShape: Shape) -> Shape { inputShape }

    public func forward(_ input: Tensor) -> Tensor {
        output.resize(to: input.shape)
        Elementwise.relu(input.data, into: output.data, count: input.count)
        return output
    }

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        guard request.input else { return nil }
        precondition(dOutput.shape == output.shape, "ReLU dOutput \(dOutput.shape), output \(output.shape)")
        dInput.resize(to: dOutput.shape)
        // dIn = dOut where the output was positive (the subgradient at 0 is taken as 0, as PyTorch does)
        Elementwise.maskPositive(dOutput.data, where: output.data, into: dInput.data, count: dOutput.count)
        return dInput
    }
}
