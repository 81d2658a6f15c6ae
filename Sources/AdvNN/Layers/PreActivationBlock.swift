/// The residual block of a pre-activation ResNet (He et al. 2016, "Identity Mappings in Deep Residual
/// Networks"): BN → ReLU → conv3×3(stride) → BN → ReLU → conv3×3, plus a shortcut that is the identity,
/// or a 1×1 convolution of the pre-activated input when the stride or width changes.
/// - input: (N, C, H, W) → output: (N, OC, H/stride, W/stride)
/// Parameter names follow the usual PyTorch `PreActBlock`: `bn1`, `conv1`, `bn2`, `conv2`, `shortcut.0`.
///
/// Each BN → ReLU is one `BatchNorm` with its ReLU fused, and conv2 adds the shortcut to its output as
/// it writes it: the block's elementwise work is two passes over the activations instead of five.
public final class PreActivationBlock: Layer {
    public let bn1: BatchNorm, conv1: Conv2D
    public let bn2: BatchNorm, conv2: Conv2D
    public let shortcut: Conv2D?
    public var isTraining = true {
        didSet { for layer in sublayers { layer.isTraining = isTraining } }
    }
    public var compute = ComputeContext.serial {
        didSet { for layer in sublayers { layer.compute = compute } }
    }

    private let dActivated = Tensor(zeros: Shape(0))   // gradient at bn1's output (ReLU included), from both paths
    private let dInput = Tensor(zeros: Shape(0))
    private var input: Tensor?

    public init(inChannels: Int, outChannels: Int, stride: Int, rng: inout RandomStream) {
        bn1 = BatchNorm(channels: inChannels, fusesReLU: true)
        conv1 = Conv2D(inChannels: inChannels, outChannels: outChannels, kernelSize: 3, stride: stride,
                       padding: 1, hasBias: false, rng: &rng)
        bn2 = BatchNorm(channels: outChannels, fusesReLU: true)
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
        shortcut = other.shortcut?.replica()
        isTraining = other.isTraining
    }

    public func replica() -> PreActivationBlock {
        let copy = PreActivationBlock(sharing: self)
        copy.compute = compute
        return copy
    }

    private var sublayers: [any Layer] { [bn1, conv1, bn2, conv2] + (shortcut.map { [$0] } ?? []) }

    public func outputShape(for inputShape: Shape) -> Shape {
        conv2.outputShape(for: conv1.outputShape(for: inputShape))
    }

    public func forward(_ input: Tensor) -> Tensor {
        self.input = input
        let activated = bn1.forward(input)   // ReLU(BN(input))
        let identity = shortcut?.forward(activated) ?? input
        return conv2.forward(bn2.forward(conv1.forward(activated)), adding: identity)
    }

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        guard let input else { preconditionFailure("PreActivationBlock.backward before forward") }
        let inner = GradientRequest(input: true, parameters: request.parameters)
        // (1) residual path back to the activated input, ReLU(bn1(input))
        let dResidual = conv1.backward(bn2.backward(conv2.backward(dOutput, request: inner)!, request: inner)!,
                                       request: inner)!
        // (2) a projection shortcut also reads the activated input: add its gradient there
        var dActivatedInput = dResidual
        if let shortcut {
            add(dResidual, shortcut.backward(dOutput, request: inner)!, into: dActivated)
            dActivatedInput = dActivated
        }
        guard let dBlockInput = bn1.backward(dActivatedInput, request: request) else { return nil }
        precondition(dBlockInput.shape == input.shape, "block dInput \(dBlockInput.shape) vs input \(input.shape)")
        // (3) an identity shortcut passes dOutput straight to the input
        guard shortcut == nil else { return dBlockInput }
        add(dBlockInput, dOutput, into: dInput)
        return dInput
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
