/// Layers: explicit forward and backward passes, as in llm.c; there is no autograd graph.
///
/// Invariants every layer keeps:
/// - `forward` writes its output into a tensor the layer owns and returns it; the layer remembers what
///   its backward needs (usually the input tensor itself), so one backward follows each forward.
/// - `backward` *adds* to parameter gradients (zeroing is the optimizer's `zeroGradients()`) and returns
///   the gradient with respect to the input, when asked for it.
/// - Attacks ask for the input gradient only; training asks for parameter gradients and, for all but
///   the first layer, the input gradient. Work that nobody asked for is skipped.
/// - After the first step at a given batch size, forward and backward do not allocate.

/// A trainable tensor and the gradient that backward passes accumulate into it.
///
/// A class, so that replicas of a layer (see `Layer.replica()`) share the same parameters.
public final class Parameter {
    /// The current value.
    public let value: Tensor
    /// The accumulated gradient of the loss with respect to `value`, same shape.
    public let gradient: Tensor

    /// Wraps `value` with a zero gradient of the same shape.
    public init(_ value: Tensor) {
        self.value = value
        gradient = Tensor(zeros: value.shape)
    }
}

/// Which gradients a backward pass computes.
public struct GradientRequest: Sendable, Equatable {
    /// Compute the gradient with respect to the layer's input.
    public var input: Bool
    /// Accumulate gradients into the layer's parameters.
    public var parameters: Bool

    public init(input: Bool, parameters: Bool) {
        self.input = input
        self.parameters = parameters
    }

    /// Both: a layer in a training step whose input needs a gradient, or a model whose input gradient
    /// is wanted as well (Free training's step, whose perturbation follows it).
    public static let training = GradientRequest(input: true, parameters: true)
    /// A training step's: the parameters' gradients. A `Sequential` still computes the input gradients
    /// its layers above the first parameters need, and skips the rest (the first layer's).
    public static let parametersOnly = GradientRequest(input: false, parameters: true)
    /// Attacks: the input gradient with the parameters frozen.
    public static let inputOnly = GradientRequest(input: true, parameters: false)
}

/// A network layer with an explicit forward and backward pass.
public protocol Layer: AnyObject {
    /// Whether the layer behaves as in training (batch statistics) or evaluation (running statistics).
    var isTraining: Bool { get set }

    /// The threads the layer computes on (`ComputeContext.serial` until it is given others); setting
    /// it on a model sets it on every layer inside.
    var compute: ComputeContext { get set }

    /// The shape of the output for an input of `inputShape`; traps with the shapes on a mismatch.
    func outputShape(for inputShape: Shape) -> Shape

    /// Computes the output for `input` and remembers what `backward` needs.
    /// - Returns: a tensor owned by the layer, valid until its next `forward`.
    func forward(_ input: Tensor) -> Tensor

    /// Back-propagates `dOutput` (same shape as the last output) through the last forward.
    /// - Returns: the gradient with respect to the input when `request.input`, else nil.
    func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor?

    /// The trainable parameters, named as PyTorch names them within this layer (`weight`, `bias`,
    /// `conv1.weight`, …), in a fixed order.
    var namedParameters: [(name: String, parameter: Parameter)] { get }

    /// Non-trainable state saved with the model (BatchNorm's running statistics), named as in PyTorch.
    var namedBuffers: [(name: String, tensor: Tensor)] { get }

    /// A layer that shares this layer's parameters and buffers but has its own activations, so two
    /// forward passes (clean and adversarial, as TRADES needs) can both be back-propagated.
    func replica() -> Self
}

extension Layer {
    public var namedParameters: [(name: String, parameter: Parameter)] { [] }
    public var namedBuffers: [(name: String, tensor: Tensor)] { [] }

    /// `self`, computing on `original`'s context: a replica computes where its original does.
    func computing(like original: any Layer) -> Self {
        compute = original.compute
        return self
    }
}
