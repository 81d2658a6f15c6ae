/// Detectors: a second opinion that rejects inputs it finds suspicious. Against a detector an attack
/// succeeds only if the input is misclassified *and* accepted; clean inputs it rejects are its
/// false-positive rate. Carlini & Wagner 2017 ("Adversarial Examples Are Not Easily Detected") showed
/// that high-confidence attacks walk past them.
import AdvNN
import Foundation

/// Decides, for a batch, which inputs to reject.
public protocol Detector: AnyObject {
    var name: String { get }
    /// Whether each input of the batch is rejected, given the model it guards.
    func rejects(_ inputs: Tensor, model: Sequential) -> [Bool]
}

/// Rejects inputs whose largest softmax probability is below a threshold (Hendrycks & Gimpel 2017):
/// adversarial examples found with a minimal margin sit near a decision boundary, where the model is
/// unsure. The threshold is calibrated on clean data to a stated false-positive rate.
public final class MaxSoftmaxDetector: Detector {
    public private(set) var threshold: Float

    public init(threshold: Float) {
        self.threshold = threshold
    }

    public var name: String { String(format: "max-softmax < %.4f", threshold) }

    /// The largest softmax probability of each input.
    static func confidence(_ inputs: Tensor, model: Sequential) -> [Float] {
        let logits = model.forward(inputs), K = logits.shape[1]
        return (0..<inputs.shape.batchSize).map { n in
            let z = logits.data + n * K
            var m = z[0]
            for k in 1..<K where z[k] > m { m = z[k] }
            var sum: Float = 0
            for k in 0..<K { sum += expf(z[k] - m) }
            return 1 / sum
        }
    }

    public func rejects(_ inputs: Tensor, model: Sequential) -> [Bool] {
        Self.confidence(inputs, model: model).map { $0 < threshold }
    }

    /// A detector that rejects `falsePositiveRate` of `clean` (the given quantile of clean confidences).
    public static func calibrated(on clean: Tensor, model: Sequential, falsePositiveRate: Double) -> MaxSoftmaxDetector {
        let sorted = confidence(clean, model: model).sorted()
        let index = min(sorted.count - 1, max(0, Int((Double(sorted.count) * falsePositiveRate).rounded(.down))))
        return MaxSoftmaxDetector(threshold: sorted[index])
    }
}

extension RegistryEntry where Part == DetectorRecipe, Context == NoContext {
    public static let maxSoftmax = detector(
        "max-softmax", summary: "rejects inputs whose largest softmax probability is low (Hendrycks & Gimpel 2017)",
        build: { calibration, rate in
            MaxSoftmaxDetector.calibrated(on: calibration.clean, model: calibration.model.model, falsePositiveRate: rate)
        })
}
