import AdvNN

/// Median filtering (Xu et al. 2018, "Feature Squeezing"): every value is replaced by the median of
/// its k×k neighbourhood in its channel, with edge values replicated at the borders. Its derivative
/// routes each output's gradient to the one input that was the median — a selection that changes
/// abruptly as inputs move, so it counts as non-differentiable here: attack it with BPDA too.
/// Images (N, C, H, W) only.
public final class MedianFilter: InputDefense {
    public let size: Int
    public let isRandomized = false
    public let isDifferentiable = false
    private var selected: [Int32] = []   // per output value: the flat input index of its median

    public init(size: Int) {
        precondition(size >= 1 && size % 2 == 1, "the median filter needs an odd window, got \(size)")
        self.size = size
    }

    public var name: String { "median filter \(size)×\(size)" }
    public var derivativeNote: String {
        "its derivative passes each output's gradient to the one input that was the median of its window, a selection that jumps to another input as the inputs move, so the gradient is a guide for small steps only"
    }

    public func apply(_ input: Tensor, into output: Tensor, rng: inout RandomStream) {
        precondition(input.shape.rank == 4, "the median filter needs images (N, C, H, W), got \(input.shape)")
        output.resize(to: input.shape)
        let H = input.shape[2], W = input.shape[3], planes = input.shape[0] * input.shape[1], r = size / 2
        selected = [Int32](repeating: 0, count: input.count)
        var window = [(value: Float, index: Int)]()
        window.reserveCapacity(size * size)
        for plane in 0..<planes {
            let base = plane * H * W
            for h in 0..<H {
                for w in 0..<W {
                    window.removeAll(keepingCapacity: true)
                    for dh in -r...r {
                        for dw in -r...r {
                            let index = base + min(max(h + dh, 0), H - 1) * W + min(max(w + dw, 0), W - 1)
                            window.append((input[index], index))
                        }
                    }
                    // ties broken by position, so the selection is deterministic
                    window.sort { $0.value < $1.value || ($0.value == $1.value && $0.index < $1.index) }
                    let median = window[window.count / 2]
                    output[base + h * W + w] = median.value
                    selected[base + h * W + w] = Int32(median.index)
                }
            }
        }
    }

    public func backward(_ dOutput: Tensor, into dInput: Tensor) {
        dInput.resize(to: dOutput.shape)
        dInput.zero()
        for i in 0..<dOutput.count { dInput[Int(selected[i])] += dOutput[i] }
    }
}

extension RegistryEntry where Part == any InputDefense, Context == DefenseContext {
    public static let medianFilter = DefenseEntry(
        name: "median-filter",
        summary: "a median filter over each channel (Xu et al. 2018): a selection whose gradient jumps between inputs; attack it with `gradients: bpda` too",
        keys: [.init("size", .integer(1...15), default: .value(.integer(3)), doc: "the odd side of the square window",
                     condition: { value, _ in
                         guard case let .integer(size) = value, size % 2 == 0 else { return nil }
                         return "the median filter needs an odd window, got \(size)"
                     })],
        check: requireImages,
        make: { spec, _ in MedianFilter(size: spec.int("size")) })
}
