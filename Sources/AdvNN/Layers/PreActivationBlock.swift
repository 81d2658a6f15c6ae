/// The residual block of a pre-activation ResNet (He et al. 2016, "Identity Mappings in Deep Residual
/// Networks"): BN → ReLU → conv3×3(stride) → BN → ReLU → conv3×3, plus a shortcut that is the identity,
/// or a 1×1 convolution of the pre-activated input when the stride or width changes. Another activation
/// (SiLU) may take the ReLUs' place.
/// - input: (N, C, H, W) → output: (N, OC, H/stride, W/stride)
/// Parameter names follow the usual PyTorch `PreActBlock`: `bn1`, `conv1`, `bn2`, `conv2`, `shortcut.0`.
///
/// Each BN → ReLU is one `BatchNorm` with its ReLU fused, and conv2 adds the shortcut to its output as
/// it writes it: the block's elementwise work is two passes over the activations instead of five. In
/// evaluation mode (attacks, inference) neither BN writes its output: the convolutions that read it
/// apply its map as they copy their input into padded planes (`defersActivations`), so the only passes
/// left are theirs. Another activation is its own layer after each BN.
public final class PreActivationBlock: Layer {
    public let bn1: BatchNorm, conv1: Conv2D
    public let bn2: BatchNorm, conv2: Conv2D
    public let shortcut: Conv2D?
    /// The activations after bn1 and bn2; nil where a ReLU is fused into the BN.
    private let activation1: (any Layer)?, activation2: (any Layer)?
    public var isTraining = true {
        didSet { for layer in sublayers { layer.isTraining = isTraining } }
    }
    public var compute = ComputeContext.serial {
        didSet { for layer in sublayers { layer.compute = compute } }
    }

    /// Whether an evaluation-mode BN → ReLU is applied by the convolutions that read it, as they pad
    /// (`defersActivation`), instead of in a pass of its own: the same bits, one pass over the
    /// activations fewer (a test compares the two bit for bit).
    public var defersActivations = true
    private let dActivated = Tensor(zeros: Shape(0))   // gradient at bn1's output (ReLU included), from both paths
    private let dInput = Tensor(zeros: Shape(0))
    private var input: Tensor?

    public init(inChannels: Int, outChannels: Int, stride: Int, activation: Activation = .relu,
                rng: inout RandomStream) {
        let fusesReLU = activation == .relu
        bn1 = BatchNorm(channels: inChannels, fusesReLU: fusesReLU)
        activation1 = fusesReLU ? nil : activation.layer()
        conv1 = Conv2D(inChannels: inChannels, outChannels: outChannels, kernelSize: 3, stride: stride,
                       padding: 1, hasBias: false, rng: &rng)
        bn2 = BatchNorm(channels: outChannels, fusesReLU: fusesReLU)
        activation2 = fusesReLU ? nil : activation.layer()
        conv2 = Conv2D(inChannels: outChannels, outChannels: outChannels, kernelSize: 3, stride: 1,
                       padding: 1, hasBias: false, rng: &rng)
        shortcut = (stride != 1 || inChannels != outChannels)
            ? Conv2D(inChannels: inChannels, outChannels: outChannels, kernelSize: 1, stride: stride,
                     padding: 0, hasBias: false, rng: &rng)
            : nil
    }

    private init(sharing other: PreActivationBlock) {
        bn1 = other.bn1.replica(); conv1 = other.conv1.replica()
        bn2 = other.bn2.replica(); conv2 = other.conv2.replica()
        activation1 = other.activation1?.replica(); activation2 = other.activation2?.replica()
        shortcut = other.shortcut?.replica()
        isTraining = other.isTraining
        defersActivations = other.defersActivations
    }

    public func replica() -> PreActivationBlock {
        let copy = PreActivationBlock(sharing: self)
        copy.compute = compute
        return copy
    }

    private var sublayers: [any Layer] {
        [bn1, conv1, bn2, conv2] + ([activation1, activation2, shortcut] as [(any Layer)?]).compactMap { $0 }
    }

    public func outputShape(for inputShape: Shape) -> Shape {
        conv2.outputShape(for: conv1.outputShape(for: inputShape))
    }

    public func forward(_ input: Tensor) -> Tensor {
        self.input = input
        let identity: Tensor, conv1Output: Tensor
        if defersActivation(bn1) {
            let activation = bn1.deferredForward(input)
            identity = shortcut?.forward(input, after: activation) ?? input
            conv1Output = conv1.forward(input, after: activation)
        } else {
            let activated = Self.forward(bn1, activation1, input)   // activation(BN(input))
            identity = shortcut?.forward(activated) ?? input
            conv1Output = conv1.forward(activated)
        }
        if defersActivation(bn2) {
            return conv2.forward(conv1Output, after: bn2.deferredForward(conv1Output), adding: identity)
        }
        return conv2.forward(Self.forward(bn2, activation2, conv1Output), adding: identity)
    }

    /// Whether `bn`'s BN → ReLU is left to the convolutions that read its output (conv1 and a projection
    /// shortcut for bn1, conv2 for bn2) to apply as they copy their input into padded planes: in
    /// evaluation mode (the statistics fixed), with the ReLU fused. The BN's backward reads only its
    /// input, and each convolution's weight gradient applies the map again as it copies, so nothing
    /// needs the BN's output.
    private func defersActivation(_ bn: BatchNorm) -> Bool {
        defersActivations && !bn.isTraining && bn.fusesReLU
    }

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        guard let input else { preconditionFailure("PreActivationBlock.backward before forward") }
        let inner = GradientRequest(input: true, parameters: request.parameters)
        // (1) residual path back to the activated input, activation(bn1(input))
        let dConv2Input = Self.backward(bn2, activation2, conv2.backward(dOutput, request: inner)!, request: inner)!
        let dResidual = conv1.backward(dConv2Input, request: inner)!
        // (2) a projection shortcut also reads the activated input: add its gradient there
        var dActivatedInput = dResidual
        if let shortcut {
            add(dResidual, shortcut.backward(dOutput, request: inner)!, into: dActivated)
            dActivatedInput = dActivated
        }
        guard let dBlockInput = Self.backward(bn1, activation1, dActivatedInput, request: request) else { return nil }
        precondition(dBlockInput.shape == input.shape, "block dInput \(dBlockInput.shape) vs input \(input.shape)")
        // (3) an identity shortcut passes dOutput straight to the input
        guard shortcut == nil else { return dBlockInput }
        add(dBlockInput, dOutput, into: dInput)
        return dInput
    }

    /// activation(bn(x)), or bn(x) alone where the BN fuses its ReLU.
    private static func forward(_ bn: BatchNorm, _ activation: (any Layer)?, _ x: Tensor) -> Tensor {
        let normalized = bn.forward(x)
        return activation?.forward(normalized) ?? normalized
    }

    /// The gradient through `forward(bn, activation, x)` (the activation has no parameters).
    private static func backward(_ bn: BatchNorm, _ activation: (any Layer)?, _ dOutput: Tensor,
                                 request: GradientRequest) -> Tensor? {
        let dNormalized = activation.map { $0.backward(dOutput, request: .inputOnly)! } ?? dOutput
        return bn.backward(dNormalized, request: request)
    }

    /// c = a + b, on the block's threads.
    private func add(_ a: Tensor, _ b: Tensor, into c: Tensor) {
        precondition(a.shape == b.shape, "block sum \(a.shape) + \(b.shape)")
        c.resize(to: a.shape)
        let x = a.data, y = b.data, z = c.data
        compute.forEachChunk(of: a.count, minimumChunk: ReLU.minimumChunk, alignment: 16) { range in
            Elementwise.add(x + range.lowerBound, y + range.lowerBound, into: z + range.lowerBound, count: range.count)
        }
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        let named: [(String, any Layer)] = [("bn1", bn1), ("conv1", conv1), ("bn2", bn2), ("conv2", conv2)]
            + (shortcut.map { [("shortcut.0", $0)] } ?? [])
        return named.flatMap { prefix, layer in layer.namedParameters.map { ("\(prefix).\($0.name)", $0.parameter) } }
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        [("bn1", bn1), ("bn2", bn2)].flatMap { prefix, layer in
            layer.namedBuffers.map { ("\(prefix).\($0.name)", $0.tensor) }
        }
    }
}
