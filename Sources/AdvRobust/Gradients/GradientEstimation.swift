/// How an attack obtains gradients of a (possibly defended) classifier.
public enum GradientEstimation: Codable, Sendable, Equatable {
    /// The true derivative of the whole pipeline, defense included (what a naive attack uses).
    case direct
    /// BPDA: through the real defense forward, the identity backward.
    case bpda
    /// EOT: the true derivative averaged over `samples` draws of the defense's randomness.
    case eot(samples: Int)
    /// BPDA and EOT together, for defenses that are both random and non-differentiable.
    case bpdaEOT(samples: Int)

    public var usesBPDA: Bool {
        switch self {
        case .bpda, .bpdaEOT: return true
        case .direct, .eot: return false
        }
    }

    public var usesEOT: Bool {
        switch self {
        case .eot, .bpdaEOT: return true
        case .direct, .bpda: return false
        }
    }

    /// Draws of the defense per gradient: EOT's samples, else 1.
    public var samplesPerGradient: Int {
        switch self {
        case let .eot(samples), let .bpdaEOT(samples): return samples
        case .direct, .bpda: return 1
        }
    }

    /// The classifier an attack should differentiate: `judged` itself, or BPDA/EOT wrappers around it.
    /// BPDA applies only to a defended classifier; on an undefended one it is the direct gradient.
    public func classifier(attacking judged: any Classifier) -> any Classifier {
        let throughDefense: any Classifier
        if usesBPDA, let defended = judged as? DefendedClassifier {
            throughDefense = BPDA(defended)
        } else {
            throughDefense = judged
        }
        switch self {
        case let .eot(samples), let .bpdaEOT(samples):
            return ExpectationOverTransformation(throughDefense, samples: samples)
        case .direct, .bpda:
            return throughDefense
        }
    }

    /// A suffix for reports: "", " + BPDA", " + EOT×16", " + BPDA + EOT×16".
    public var label: String {
        switch self {
        case .direct: return ""
        case .bpda: return " + BPDA"
        case let .eot(samples): return " + EOT×\(samples)"
        case let .bpdaEOT(samples): return " + BPDA + EOT×\(samples)"
        }
    }
}
