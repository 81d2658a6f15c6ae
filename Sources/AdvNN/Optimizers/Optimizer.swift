/// Optimizers update parameters from their accumulated gradients, with PyTorch's update rules so that
/// published recipes transfer. Their state (momentum, moments, step count) is saved in training
/// checkpoints under `<buffer>.<parameter name>`, so a resumed run continues bit-exactly.
public protocol Optimizer: AnyObject {
    /// The learning rate of the next `step()`; schedules set it before each step.
    var learningRate: Float { get set }
    /// How many updates have been applied.
    var stepCount: Int { get set }
    /// The parameters this optimizer updates, with their model names.
    var parameters: [(name: String, parameter: Parameter)] { get }
    /// The threads `step()` runs on.
    var compute: ComputeContext { get set }
    /// Applies one update from the current gradients.
    func step()
    /// The optimizer's tensors (momentum buffers, moment estimates), named for checkpoints.
    var namedState: [(name: String, tensor: Tensor)] { get }
}

extension Optimizer {
    /// Sets every parameter's gradient to zero before the next backward pass accumulates into it.
    public func zeroGradients() {
        for (_, parameter) in parameters { parameter.gradient.zero() }
    }
}
