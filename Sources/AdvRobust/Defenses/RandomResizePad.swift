import AdvNN

/// Random resizing and padding (Xie et al. 2018, "Mitigating Adversarial Effects Through
/// Randomization"), for fixed-size models: each image is shrunk to a random side s ∈ [H − `maximumShrink`,
/// H] (nearest neighbour) and placed at a random offset in a zero canvas of the original size, afresh for
/// every call. The map is a selection, so its derivative routes gradients back exactly; the randomness is
/// what EOT must average over. Images (N, C, H, W) with H = W.
public final class RandomResizePad: InputDefense {
    public let maximumShrink: Int
    public let isRandomized = true
    public let isDifferentiable = true
    private var source: [Int32] = []     // per output value: the flat input index it copies, or −1 for padding

    public init(maximumShrink: Int) {
        precondition(maximumShrink >= 1, "maximum shrink must be at least one pixel, got \(maximumShrink)")
        self.maximumShrink = maximumShrink
    }

    public var name: String { "random resize and pad (shrinks by up to \(maximumShrink) px)" }

    public func apply(_ input: Tensor, into output: Tensor, rng: inout RandomStream) {
        precondition(input.shape.rank == 4 && input.shape[2] == input.shape[3], "resize-and-pad needs square images, got \(input.shape)")
        output.resize(to: input.shape)
        output.zero()
        let N = input.shape[0], C = input.shape[1], H = input.shape[2]
        precondition(maximumShrink < H, "cannot shrink \(H)-pixel images by \(maximumShrink)")
        source = [Int32](repeating: -1, count: input.count)
        for n in 0..<N {
            let side = H - rng.nextIndex(below: maximumShrink + 1)
            let top = rng.nextIndex(below: H - side + 1), left = rng.nextIndex(below: H - side + 1)
            for c in 0..<C {
                let plane = (n * C + c) * H * H
                for i in 0..<side {
                    for j in 0..<side {
                        let from = plane + (i * H / side) * H + (j * H / side), to = plane + (top + i) * H + left + j
                        output[to] = input[from]
                        source[to] = Int32(from)
                    }
                }
            }
        }
    }

    public func backward(_ dOutput: Tensor, into dInput: Tensor) {
        dInput.resize(to: dOutput.shape)
        dInput.zero()
        for i in 0..<dOutput.count where source[i] >= 0 { dInput[Int(source[i])] += dOutput[i] }
    }
}

extension RegistryEntry where Part == any InputDefense, Context == DefenseContext {
    public static let resizePad = DefenseEntry(
        name: "resize-pad",
        summary: "random resizing and padding (Xie et al. 2018): shrink by up to `max_shrink` pixels, pad at a random offset; randomised, attack it with `gradients: eot`",
        keys: [.init("max_shrink", .integer(1...64), default: .value(.integer(4)), doc: "the most pixels an image shrinks by")],
        check: requireImages,
        make: { spec, _ in RandomResizePad(maximumShrink: spec.int("max_shrink")) })
}
