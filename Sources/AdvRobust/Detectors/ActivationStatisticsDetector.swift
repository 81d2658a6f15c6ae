import AdvNN
import Foundation

/// A small classifier on activation statistics: for every ReLU layer of the model, the mean, standard
/// deviation and maximum of its activations, plus the logits' largest softmax probability and entropy;
/// a logistic regression on these features, trained to tell clean inputs from adversarial ones found
/// by a given attack (in the spirit of Grosse et al. 2017 and Metzen et al. 2017). Its threshold is set
/// for a stated false-positive rate on the clean training inputs.
public final class ActivationStatisticsDetector: Detector {
    private var weights: [Double]
    private var bias: Double
    private var mean: [Double], scale: [Double]
    public private(set) var threshold: Double

    public var name: String { "activation-statistics classifier" }

    init(weights: [Double], bias: Double, mean: [Double], scale: [Double], threshold: Double) {
        self.weights = weights
        self.bias = bias
        self.mean = mean
        self.scale = scale
        self.threshold = threshold
    }

    /// Features of every input: per ReLU layer (mean, std, max), then max-probability and entropy.
    static func features(_ inputs: Tensor, model: Sequential) -> [[Double]] {
        let N = inputs.shape.batchSize
        var rows = [[Double]](repeating: [], count: N)
        var activation = inputs
        for layer in model.layers {
            activation = layer.forward(activation)
            guard layer is ReLU else { continue }
            let D = activation.shape.elementsPerItem
            for n in 0..<N {
                var sum = 0.0, squares = 0.0, largest = -Double.infinity
                for i in 0..<D {
                    let value = Double(activation[n * D + i])
                    sum += value; squares += value * value; largest = max(largest, value)
                }
                let m = sum / Double(D)
                rows[n] += [m, max(squares / Double(D) - m * m, 0).squareRoot(), largest]
            }
        }
        let K = activation.shape[1]
        for n in 0..<N {
            let z = (0..<K).map { Double(activation[n * K + $0]) }
            let top = z.max()!
            let exps = z.map { exp($0 - top) }, total = exps.reduce(0, +)
            let probabilities = exps.map { $0 / total }
            let entropy = -probabilities.reduce(0) { $0 + ($1 > 0 ? $1 * log($1) : 0) }
            rows[n] += [probabilities.max()!, entropy]
        }
        return rows
    }

    private func score(_ features: [Double]) -> Double {
        var s = bias
        for (i, value) in features.enumerated() { s += weights[i] * (value - mean[i]) / scale[i] }
        return s
    }

    public func rejects(_ inputs: Tensor, model: Sequential) -> [Bool] {
        Self.features(inputs, model: model).map { score($0) > threshold }
    }

    /// Trains the logistic regression on clean inputs (label 0) and their adversarial versions
    /// (label 1) by full-batch gradient descent on standardised features, then sets the threshold so
    /// that `falsePositiveRate` of the clean inputs are rejected.
    public static func trained(clean: Tensor, adversarial: Tensor, model: Sequential,
                               falsePositiveRate: Double, iterations: Int = 500) -> ActivationStatisticsDetector {
        let cleanFeatures = features(clean, model: model), adversarialFeatures = features(adversarial, model: model)
        let all = cleanFeatures + adversarialFeatures
        let labels = [Double](repeating: 0, count: cleanFeatures.count) + [Double](repeating: 1, count: adversarialFeatures.count)
        let F = all[0].count
        let mean = (0..<F).map { f in all.reduce(0) { $0 + $1[f] } / Double(all.count) }
        let scale = (0..<F).map { f in max((all.reduce(0) { $0 + pow($1[f] - mean[f], 2) } / Double(all.count)).squareRoot(), 1e-6) }
        let standardised = all.map { row in (0..<F).map { (row[$0] - mean[$0]) / scale[$0] } }
        var weights = [Double](repeating: 0, count: F), bias = 0.0
        for _ in 0..<iterations {
            var gradient = [Double](repeating: 0, count: F), gradientBias = 0.0
            for (row, label) in zip(standardised, labels) {
                let s = zip(weights, row).reduce(bias) { $0 + $1.0 * $1.1 }
                let error = 1 / (1 + exp(-s)) - label
                for f in 0..<F { gradient[f] += error * row[f] }
                gradientBias += error
            }
            for f in 0..<F { weights[f] -= 0.5 * gradient[f] / Double(all.count) }
            bias -= 0.5 * gradientBias / Double(all.count)
        }
        let detector = ActivationStatisticsDetector(weights: weights, bias: bias, mean: mean, scale: scale, threshold: 0)
        let cleanScores = cleanFeatures.map(detector.score).sorted(by: >)
        let index = min(cleanScores.count - 1, max(0, Int((Double(cleanScores.count) * falsePositiveRate).rounded(.down))))
        detector.threshold = cleanScores[index]
        return detector
    }
}

extension RegistryEntry where Part == DetectorRecipe, Context == NoContext {
    /// Trained to separate clean inputs from minimal-margin PGD examples (CW loss, κ = 0, 20 steps)
    /// under the run's threat model.
    public static let activationStatistics = detector(
        "activation-statistics",
        summary: "a logistic regression on per-layer activation statistics, trained on clean inputs and minimal-margin PGD examples",
        build: { calibration, rate in
            var rng = RandomStream(seed: calibration.seed, purpose: "detector.training")
            let adversarial = PGD(threatModel: calibration.threatModel, steps: 20, loss: .carliniWagner(confidence: 0))
                .perturb(calibration.clean, labels: calibration.labels, against: calibration.model, using: &rng).adversarial
            return ActivationStatisticsDetector.trained(clean: calibration.clean, adversarial: adversarial,
                                                        model: calibration.model.model, falsePositiveRate: rate)
        })
}
