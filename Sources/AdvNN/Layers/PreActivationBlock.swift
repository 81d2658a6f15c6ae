/// The residual block of a pre-activation ResNet (He et al. 2016, "Identity Mappings in Deep Residual
/// Networks"): BN → ReLU → conv3×3(stride) → BN → ReLU → conv3×3, plus a shortcut that is the identity,
/// or a 1×1 convolution of the pre-activated input when the stride or width changes.
/// - input: (N, C, H, W) → output: (N, OC, H/stride, W/stride)
/// Parameter names follow the usual PyTorch `PreActBlock`: `bn1`, `conv1`, `bn2`, `conv2`, `shortcut.0`.
public final class PreActivationBlock: Layer {
    public let bn1: BatchNorm, relu1: ReLU, conv1: Conv2D
    public let bn2: BatchNorm, relu2: ReLU, conv2: Conv2D
    public let shortcut: Conv2D?
    public var isTraining = true {
        didSet { for layer in sublayers { layer.isTraining = isTraining } }
    }
    public var compute = ComputeContext.serial {
        didSet { for layer in sublayers { layer.compute = compute } }
    }

    private let output = Tensor(zeros: Shape(0))
    private let dActivated = Tensor(zeros: Shape(0))   // gradient at relu1's output, from both paths
    private let dInput = Tensor(zeros: Shape(0))
    private var input: Tensor?

    public init(inChannels: Int, outChannels: Int, stride: Int, rng: inout RandomStream) {
        bn1 = BatchNorm(channels: inChannels)
        relu1 = ReLU()
        conv1 = Conv2D(inChannels: inChannels, outChannels: outChannels, kernelSize: 3, stride: stride,
                       padding: 1, hasBias: false, rng: &rng)
        bn2 = BatchNorm(channels: outChannels)
        relu2 = ReLU()
        conv2 = Conv2D(inChannels: outChannels, outChannels: outChannels, kernelSize: 3, stride: 1,
                       padding: 1, hasBias: false, rng: &rng)
        shortcut = (stride != 1 || inChannels != outChannels)
            ? Conv2D(inChannels: inChannels, outChannels: outChannels, kernelSize: 1, stride: stride,
                     padding: 0, hasBias: false, rng: &rng)
            : nil
    }

    private init(sharing other: PreActivationBlock) {
        bn1 = other.bn1.replica(); relu1 = ReLU(); conv1 = other.conv1.replica()
        bn2 = other.bn2.replica(); relu2 = ReLU(); conv2 = other.conv2.replica()
        shortcut = other.shortcut?.replica()
        isTraining = other.isTraining
    }

    public func replica() -> PreActivationBlock {
        let copy = PreActivationBlock(sharing: self)
        copy.compute = compute
        return copy
    }

    private var sublayers: [any Layer] { [bn1, relu1, conv1, bn2, relu2, conv2] + (shortcut.map { [$0] } ?? []) }

    public func outputShape(for inputShape: Shape) -> Shape {
        conv2.outputShape(for: conv1.outputShape(for: inputShape))
    }

    public func forward(_ input: Tensor) -> Tensor {
        self.input = input
        let activated = relu1.forward(bn1.forward(input))
        let residual = conv2.forward(relu2.forward(bn2.forward(conv1.forward(activated))))
        let identity = shortcut?.forward(activated) ?? input
        precondition(identity.shape == residual.shape, "block shortcut \(identity.shape) vs \(residual.shape)")
        output.resize(to: residual.shape)
        let r = residual.data, i = identity.data, y = output.data
        for index in 0..<output.count { y[index] = r[index] + i[index] }
        return output
    }

    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        guard let input else { preconditionFailure("PreActivationBlock.backward before forward") }
        let inner = GradientRequest(input: true, parameters: request.parameters)
        // (1) residual path back to relu1's output
        let dResidual = conv1.backward(
            bn2.backward(relu2.backward(conv2.backward(dOutput, request: inner)!, request: inner)!,
                         request: inner)!, request: inner)!
        dActivated.assign(dResidual)
        // (2) a projection shortcut also reads relu1's output: add its gradient there
        if let shortcut {
            let dShortcut = shortcut.backward(dOutput, request: inner)!
            let a = dActivated.data, s = dShortcut.data
            for index in 0..<dActivated.count { a[index] += s[index] }
        }
        guard let dBlockInput = bn1.backward(relu1.backward(dActivated, request: inner)!, request: request)
        else { return nil }
        dInput.assign(dBlockInput)
        // (3) an identity shortcut passes dOutput straight to the input
        if shortcut == nil {
            let d = dInput.data, g = dOutput.data
            for index in 0..<dInput.count { d[index] += g[index] }
        }
        precondition(dInput.shape == input.shape, "block dInput \(dInput.shape) vs input \(input.shape)")
        return dInput
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
