/// Defenses that transform inputs before the classifier sees them, so users can evaluate them honestly.
///
/// Each defense states whether it is differentiable and whether it is randomised; an evaluation that
/// attacks a non-differentiable defense without BPDA, or a randomised one without EOT, is the classic
/// way to report robustness that is not there (Athalye, Carlini & Wagner 2018).
import AdvNN

/// A preprocessing defense: a map from a batch to a batch of the same shape.
public protocol InputDefense: AnyObject {
    /// A short name for reports, e.g. `bit-depth 1`.
    var name: String { get }
    /// Whether the output depends on random draws (attacks then need EOT).
    var isRandomized: Bool { get }
    /// Whether the true derivative is useful; a defense whose derivative is zero almost everywhere
    /// (quantisation) shatters gradients, and attacks then need BPDA.
    var isDifferentiable: Bool { get }
    /// For a non-differentiable defense: what its true derivative does, as the sanity check's evidence
    /// states it (true of this defense, not of non-differentiable defenses in general).
    var derivativeNote: String { get }

    /// Transforms `input` into `output` (resized to the input's shape), drawing from `rng` if randomised,
    /// and remembers what `backward` needs.
    func apply(_ input: Tensor, into output: Tensor, rng: inout RandomStream)

    /// The true derivative of the last `apply`: writes dInput for `dOutput` (zero where it is zero).
    func backward(_ dOutput: Tensor, into dInput: Tensor)
}

extension InputDefense {
    public var derivativeNote: String { "its true derivative is a usable gradient" }
}

/// Bit-depth reduction (Xu et al. 2018, "Feature Squeezing"): rounds every value in [0, 1] to one of
/// 2^bits levels. Its derivative is zero almost everywhere: the textbook shattered gradient.
public final class BitDepthReduction: InputDefense {
    public let bits: Int
    public let isRandomized = false
    public let isDifferentiable = false

    public init(bits: Int) {
        precondition((1...16).contains(bits), "bit depth must be 1…16, got \(bits)")
        self.bits = bits
    }

    public var name: String { "bit-depth \(bits)" }
    public var derivativeNote: String {
        "rounding to \(1 << bits) levels has a derivative of zero almost everywhere, so gradient attacks receive no signal"
    }

    public func apply(_ input: Tensor, into output: Tensor, rng: inout RandomStream) {
        output.resize(to: input.shape)
        let levels = Float((1 << bits) - 1), x = input.data, y = output.data
        for i in 0..<input.count { y[i] = (min(max(x[i], 0), 1) * levels).rounded() / levels }
    }

    public func backward(_ dOutput: Tensor, into dInput: Tensor) {
        dInput.resize(to: dOutput.shape)
        dInput.zero()   // a step function: the derivative is 0 wherever it exists
    }
}

/// Additive Gaussian noise with standard deviation `sigma`, drawn afresh for every call, then clipped to
/// [0, 1] (a randomised smoothing-style defense evaluated on single draws). The derivative is the
/// identity inside the range and zero where clipping binds.
public final class GaussianNoise: InputDefense {
    public let sigma: Float
    public let isRandomized = true
    public let isDifferentiable = true
    private var inside: [Bool] = []

    public init(sigma: Float) {
        precondition(sigma > 0, "noise sigma must be positive, got \(sigma)")
        self.sigma = sigma
    }

    public var name: String { "gaussian noise σ=\(sigma)" }

    public func apply(_ input: Tensor, into output: Tensor, rng: inout RandomStream) {
        output.resize(to: input.shape)
        inside = [Bool](repeating: true, count: input.count)
        for i in 0..<input.count {
            let noisy = input[i] + sigma * rng.nextNormal()
            inside[i] = noisy > 0 && noisy < 1
            output[i] = min(max(noisy, 0), 1)
        }
    }

    public func backward(_ dOutput: Tensor, into dInput: Tensor) {
        dInput.resize(to: dOutput.shape)
        for i in 0..<dOutput.count { dInput[i] = inside[i] ? dOutput[i] : 0 }
    }
}

/// Random pixel dropping: every value is set to zero with probability `rate`, independently for each
/// call. The derivative is the keep mask of the last call.
public final class RandomDropping: InputDefense {
    public let rate: Float
    public let isRandomized = true
    public let isDifferentiable = true
    private var kept: [Bool] = []

    public init(rate: Float) {
        precondition(rate >= 0 && rate < 1, "drop rate must be in [0, 1), got \(rate)")
        self.rate = rate
    }

    public var name: String { "random dropping p=\(rate)" }

    public func apply(_ input: Tensor, into output: Tensor, rng: inout RandomStream) {
        output.resize(to: input.shape)
        kept = (0..<input.count).map { _ in rng.nextUnitFloat() >= rate }
        for i in 0..<input.count { output[i] = kept[i] ? input[i] : 0 }
    }

    public func backward(_ dOutput: Tensor, into dInput: Tensor) {
        dInput.resize(to: dOutput.shape)
        for i in 0..<dOutput.count { dInput[i] = kept[i] ? dOutput[i] : 0 }
    }
}

extension RegistryEntry where Part == any InputDefense, Context == DefenseContext {
    public static let bitDepth = DefenseEntry(
        name: "bit-depth", summary: "bit-depth reduction (Xu et al. 2018): non-differentiable, attack it with `gradients: bpda`",
        keys: [.init("bits", .integer(1...16), default: .value(.integer(1)), doc: "levels per value: 2^bits")],
        make: { spec, _ in BitDepthReduction(bits: spec.int("bits")) })

    public static let gaussianNoise = DefenseEntry(
        name: "gaussian-noise", summary: "Gaussian noise added to the input: randomised, attack it with `gradients: eot`",
        keys: [.init("sigma", .number(0...1, lowerIsOpen: true), default: .value(.number(0.1)), doc: "the noise's standard deviation")],
        make: { spec, _ in GaussianNoise(sigma: spec.float("sigma")) })

    public static let randomDropping = DefenseEntry(
        name: "random-dropping", summary: "random pixel dropping: randomised, attack it with `gradients: eot`",
        keys: [.init("rate", .number(0...0.99, lowerIsOpen: false), default: .value(.number(0.5)), doc: "the fraction of values set to 0")],
        make: { spec, _ in RandomDropping(rate: spec.float("rate")) })
}
