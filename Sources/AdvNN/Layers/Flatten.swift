/// Flattens every item of a batch: (N, C, H, W) → (N, C·H·W). Shares memory with its input.
public final class Flatten: Layer {
    public var compute = ComputeContext.serial
    public var isTraining = true
    private let outputView = Tensor(zeros: Shape(1)).reshaped(to: Shape(1))
    private let dInputView = Tensor(zeros: Shape(1)).reshaped(to: Shape(1))
    private var inputShape = Shape(0)

    public init() {}

    public func replica() -> Flatten { Flatten().computing(like: self) }

    public func outputShape(for inputShape: Shape) -> Shape {
        Shape(inputShape.batchSize, inputShape.elementsPerItem)
    }

    public func forward(_ input: Tensor) -> Tensor {
        inputShape = input.shape
        outputView.repoint(at: input, shape: outputShape(for: input.shape))
        return outputView
    }

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        guard request.input else { return nil }
        dInputView.repoint(at: dOutput, shape: inputShape)
        return dInputView
    }
}
