/// Rectified linear unit: output = max(0, input), elementwise. Any shape.
public final class ReLU: Layer {
    public var isTraining = true
    private let output = Tensor(zeros: Shape(0))
    private let dInput = Tensor(zeros: Shape(0))

    public init() {}

    public func replica() -> ReLU { ReLU() }

    public func outputShape(for inputShape: Shape) -> Shape { inputShape }

    public func forward(_ input: Tensor) -> Tensor {
        output.resize(to: input.shape)
        let x = input.data, y = output.data
        for i in 0..<input.count { y[i] = x[i] > 0 ? x[i] : 0 }
        return output
    }

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        guard request.input else { return nil }
        precondition(dOutput.shape == output.shape, "ReLU dOutput \(dOutput.shape), output \(output.shape)")
        dInput.resize(to: dOutput.shape)
        // dIn = dOut where the output was positive (the subgradient at 0 is taken as 0, as PyTorch does).
        let y = output.data, dy = dOutput.data, dx = dInput.data
        for i in 0..<dOutput.count { dx[i] = y[i] > 0 ? dy[i] : 0 }
        return dInput
    }
}
