import Foundation

/// How the learning rate moves over training, as a pure function of the step count, so a resumed run
/// needs no schedule state beyond the step it resumes at.
public enum LearningRateSchedule: Codable, Sendable, Equatable {
    /// The base rate throughout.
    case constant
    /// The base rate times `gamma` for every milestone epoch reached (`MultiStepLR`).
    case step(milestones: [Int], gamma: Float)
    /// Cosine annealing from the base rate to `minimum` over the whole run, per step.
    case cosine(minimum: Float)
    /// The cyclic one-cycle schedule of fast adversarial training (Wong et al. 2020): linear from 0 up to
    /// the base rate at `peakFraction` of training, then linear down to 0, per step.
    case oneCycle(peakFraction: Float)

    /// The learning rate for update number `step` (0-based).
    /// - Parameters:
    ///   - base: the configured (maximum) learning rate.
    ///   - stepsPerEpoch: updates per epoch; `totalEpochs`: the length of the run.
    public func rate(base: Float, step: Int, stepsPerEpoch: Int, totalEpochs: Int) -> Float {
        let totalSteps = Double(max(stepsPerEpoch * totalEpochs, 1))
        switch self {
        case .constant:
            return base
        case let .step(milestones, gamma):
            let epoch = step / max(stepsPerEpoch, 1)
            var passed = 0   // counted in a loop: the schedule runs every step and must not allocate
            for milestone in milestones where epoch >= milestone { passed += 1 }
            return base * powf(gamma, Float(passed))
        case let .cosine(minimum):
            let progress = min(Double(step) / totalSteps, 1)
            return minimum + (base - minimum) * Float(0.5 * (1 + cos(Double.pi * progress)))
        case let .oneCycle(peakFraction):
            // as in Wong et al.'s code: evaluated at the fractional epoch reached after this update
            let progress = min(Double(step + 1) / totalSteps, 1)
            let peak = Double(peakFraction)
            let fraction = progress <= peak ? progress / peak : (1 - progress) / (1 - peak)
            return base * Float(fraction)
        }
    }
}
