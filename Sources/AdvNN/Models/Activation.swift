/// The nonlinearity an architecture puts after its hidden layers (`ModelSpec.activation`).
public enum Activation: String, Codable, CaseIterable, Sendable {
    case relu
    case silu

    /// One line, for documentation.
    public var summary: String {
        switch self {
        case .relu: return "max(0, x)"
        case .silu: return "x·σ(x), smooth: better input gradients for adversarial training (Xie et al. 2020)"
        }
    }

    /// Whether it commutes with max pooling (true of every nondecreasing function), so that an
    /// architecture may pool first and apply it to a quarter of the elements.
    public var commutesWithMaxPooling: Bool { self == .relu }

    public func layer() -> any Layer {
        switch self {
        case .relu: return ReLU()
        case .silu: return SiLU()
        }
    }
}
