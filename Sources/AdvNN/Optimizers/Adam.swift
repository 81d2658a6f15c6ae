import Foundation

/// Adam (Kingma & Ba 2015) as `torch.optim.Adam`, or AdamW (Loshchilov & Hutter 2019) when the weight
/// decay is decoupled:
///   m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;
///   w ← w − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε).
public final class Adam: Optimizer {
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    public let isDecoupled: Bool
    public var stepCount = 0
    public var compute = ComputeContext.serial
    public let parameters: [(name: String, parameter: Parameter)]
    private let firstMoments: [Tensor]
    private let secondMoments: [Tensor]

    public init(parameters: [(name: String, parameter: Parameter)], learningRate: Float = 1e-3,
                beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0, decoupled: Bool = false) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        isDecoupled = decoupled
        firstMoments = parameters.map { Tensor(zeros: $0.parameter.value.shape) }
        secondMoments = parameters.map { Tensor(zeros: $0.parameter.value.shape) }
    }

    public var namedState: [(name: String, tensor: Tensor)] {
        zip(parameters, firstMoments).map { ("exp_avg.\($0.name)", $1) }
            + zip(parameters, secondMoments).map { ("exp_avg_sq.\($0.name)", $1) }
    }

    public func step() {
        stepCount += 1
        let t = Float(stepCount)
        let correction1 = 1 - powf(beta1, t), correction2Root = (1 - powf(beta2, t)).squareRoot()
        let stepSize = learningRate / correction1
        let b1 = beta1, b2 = beta2, eps = epsilon, lambda = weightDecay, decoupled = isDecoupled
        let shrink = 1 - learningRate * weightDecay
        for (index, (_, parameter)) in parameters.enumerated() {
            let w = parameter.value.data, grad = parameter.gradient.data
            let m = firstMoments[index].data, v = secondMoments[index].data
            // elementwise, so any split over threads gives the same numbers
            compute.forEachChunk(of: parameter.value.count, minimumChunk: 1 << 16) { range in
                for i in range {
                    var g = grad[i]
                    if decoupled { w[i] *= shrink } else { g += lambda * w[i] }
                    m[i] = b1 * m[i] + (1 - b1) * g
                    v[i] = b2 * v[i] + (1 - b2) * g * g
                    w[i] -= stepSize * m[i] / (v[i].squareRoot() / correction2Root + eps)
                }
            }
        }
    }
}
