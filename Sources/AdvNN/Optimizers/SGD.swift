/// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay, as `torch.optim.SGD`:
///   g ← ∇w + λ·w;  b ← μ·b + (1 − dampening)·g  (b ← g on the first step);
///   d ← g + μ·b (Nesterov) or b;  w ← w − lr·d.
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float
    public let dampening: Float
    public let weightDecay: Float
    public let isNesterov: Bool
    public var stepCount = 0
    public var compute = ComputeContext.serial
    public let parameters: [(name: String, parameter: Parameter)]
    private let momentumBuffers: [Tensor]

    public init(parameters: [(name: String, parameter: Parameter)], learningRate: Float, momentum: Float = 0,
                dampening: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        precondition(!nesterov || (momentum > 0 && dampening == 0), "Nesterov needs momentum > 0 and no dampening")
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        isNesterov = nesterov
        momentumBuffers = momentum == 0 ? [] : parameters.map { Tensor(zeros: $0.parameter.value.shape) }
    }

    public var namedState: [(name: String, tensor: Tensor)] {
        zip(parameters, momentumBuffers).map { ("momentum_buffer.\($0.name)", $1) }
    }

    public func step() {
        let lr = learningRate, mu = momentum, lambda = weightDecay, keep = 1 - dampening
        let isFirstStep = stepCount == 0, nesterov = isNesterov
        for (index, (_, parameter)) in parameters.enumerated() {
            let w = parameter.value.data, grad = parameter.gradient.data
            let b = mu == 0 ? nil : momentumBuffers[index].data
            // elementwise, so any split over threads gives the same numbers
            compute.forEachChunk(of: parameter.value.count, minimumChunk: 1 << 16, alignment: 16) { range in
                guard let b else {
                    for i in range { w[i] -= lr * (grad[i] + lambda * w[i]) }
                    return
                }
                Self.momentumUpdate(weights: w + range.lowerBound, gradient: grad + range.lowerBound,
                                    buffer: b + range.lowerBound, count: range.count, learningRate: lr,
                                    momentum: mu, keep: keep, weightDecay: lambda,
                                    isFirstStep: isFirstStep, nesterov: nesterov)
            }
        }
        stepCount += 1
    }

    /// One momentum step over `count` elements, on Elementwise's 16-wide vectors (the step is memory-bound: one pass
    /// that reads w, ∇w and b and writes w and b). Vector and scalar lanes compute the same IEEE
    /// operations in the same order, so the result does not depend on where a chunk starts.
    private static func momentumUpdate(weights w: UnsafeMutablePointer<Float>, gradient grad: UnsafePointer<Float>,
                                       buffer b: UnsafeMutablePointer<Float>, count: Int, learningRate lr: Float,
                                       momentum mu: Float, keep: Float, weightDecay lambda: Float,
                                       isFirstStep: Bool, nesterov: Bool) {
        let width = Elementwise.width
        var i = 0
        while i + width <= count {
            let weight = Elementwise.load(w + i)
            let g = Elementwise.load(grad + i) + lambda * weight
            let momentumBuffer = isFirstStep ? g : mu * Elementwise.load(b + i) + keep * g
            Elementwise.store(momentumBuffer, b + i)
            Elementwise.store(weight - lr * (nesterov ? g + mu * momentumBuffer : momentumBuffer), w + i)
            i += width
        }
        while i < count {
            let g = grad[i] + lambda * w[i]
            b[i] = isFirstStep ? g : mu * b[i] + keep * g
            w[i] -= lr * (nesterov ? g + mu * b[i] : b[i])
            i += 1
        }
    }
}
