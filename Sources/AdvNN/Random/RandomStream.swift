import Foundation

/// A seeded, exactly restorable random number generator (xoshiro256**, Blackman & Vigna 2018).
///
/// Every random draw in advd comes from a stream derived from the run's seed and a purpose name
/// (`"init"`, `"shuffle"`, `"attack"`, …), so adding draws for one purpose never shifts another's, and
/// a run is reproducible from its seed. `state` can be saved in a checkpoint and restored bit-exactly.
public struct RandomStream: RandomNumberGenerator, Sendable, Equatable {
    /// The generator's whole state; restoring it resumes the exact sequence.
    public var state: (UInt64, UInt64, UInt64, UInt64) {
        get { (s0, s1, s2, s3) }
        set { (s0, s1, s2, s3) = newValue }
    }

    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A stream for `purpose` under the run seed `seed`.
    public init(seed: UInt64, purpose: String = "") {
        // SplitMix64 expands (seed, hash(purpose)) into a well-mixed 256-bit state, as the authors advise.
        var mixer = seed ^ RandomStream.fnv1a(purpose)
        s0 = RandomStream.splitMix(&mixer)
        s1 = RandomStream.splitMix(&mixer)
        s2 = RandomStream.splitMix(&mixer)
        s3 = RandomStream.splitMix(&mixer)
    }

    /// Restores a stream from a saved `state`.
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        (s0, s1, s2, s3) = state
        precondition(s0 | s1 | s2 | s3 != 0, "xoshiro256** state must not be all zero")
    }

    /// The state as four words, for checkpoints.
    public var stateWords: [UInt64] { [s0, s1, s2, s3] }

    /// Restores a stream from four saved words.
    public init(stateWords words: [UInt64]) {
        precondition(words.count == 4, "a RandomStream state is 4 words, got \(words.count)")
        self.init(state: (words[0], words[1], words[2], words[3]))
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    /// A float uniformly distributed in [0, 1), from the top 24 bits.
    @inline(__always)
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// A float uniformly distributed in [lower, upper).
    @inline(__always)
    public mutating func nextFloat(in lower: Float, _ upper: Float) -> Float {
        lower + (upper - lower) * nextUnitFloat()
    }

    /// A standard normal sample (Box–Muller; one uniform pair per sample, so no hidden cached state).
    public mutating func nextNormal() -> Float {
        let u1 = (Double(next() >> 11) + 1) * (1.0 / 9_007_199_254_740_993.0)  // (0, 1]
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)        // [0, 1)
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }

    /// An integer uniformly distributed in 0..<bound, without modulo bias.
    public mutating func nextIndex(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        return Int(next(upperBound: UInt64(bound)))
    }

    /// A uniformly random permutation of 0..<count (Fisher–Yates).
    public mutating func permutation(of count: Int) -> [Int] {
        var order = Array(0..<count)
        shuffleInPlace(&order)
        return order
    }

    /// Shuffles `values` in place (Fisher–Yates, the same draws as `permutation(of:)`).
    public mutating func shuffleInPlace<T>(_ values: inout [T]) {
        guard values.count > 1 else { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) {
            let j = nextIndex(below: i + 1)
            values.swapAt(i, j)
        }
    }

    public static func == (lhs: RandomStream, rhs: RandomStream) -> Bool {
        lhs.stateWords == rhs.stateWords
    }

    @inline(__always)
    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    private static func splitMix(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// FNV-1a over the UTF-8 bytes: a stable hash (Swift's `Hasher` is randomly seeded per process).
    private static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }
}

extension RandomStream {
    /// A stream for `purpose` and a sub-index (an epoch, a restart), derived from the run seed alone, so
    /// it can be recreated on resume without saving any state.
    public init(seed: UInt64, purpose: String, index: Int) {
        self.init(seed: seed &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15, purpose: purpose)
    }
}
