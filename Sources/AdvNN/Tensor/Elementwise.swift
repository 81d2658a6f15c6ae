/// Branch-free elementwise kernels on 16-wide SIMD vectors, with a scalar tail. Each has its plain
/// scalar meaning in the comment; the tests compare the layers that use them with finite differences.
public enum Elementwise {
    typealias Vector = SIMD16<Float>
    static let width = Vector.scalarCount

    @inline(__always)
    static func load(_ pointer: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(pointer).loadUnaligned(as: Vector.self)
    }

    @inline(__always)
    static func store(_ vector: Vector, _ pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: vector, as: Vector.self)
    }

    /// y[i] = max(x[i], 0)
    public static func relu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + width <= count {
            let v = load(x + i)
            store(v.replacing(with: 0, where: v .< 0), y + i)   // pointwiseMax is not vectorised
            i += width
        }
        while i < count { y[i] = max(x[i], 0); i += 1 }
    }

    /// d[i] = g[i] if y[i] > 0 else 0
    public static func maskPositive(_ g: UnsafePointer<Float>, where y: UnsafePointer<Float>,
                                    into d: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + width <= count {
            store(load(g + i).replacing(with: 0, where: load(y + i) .<= 0), d + i)
            i += width
        }
        while i < count { d[i] = y[i] > 0 ? g[i] : 0; i += 1 }
    }

    /// d[i] = g[i] if x[i]·scale + shift > 0 else 0: the mask of a ReLU after the affine map, from the
    /// map's input (computed as `affineReLU` computes it, so the same elements pass)
    public static func maskAffinePositive(_ g: UnsafePointer<Float>, where x: UnsafePointer<Float>, scale: Float,
                                          shift: Float, into d: UnsafeMutablePointer<Float>, count: Int) {
        let a = Vector(repeating: scale), b = Vector(repeating: shift)
        var i = 0
        while i + width <= count {
            store(load(g + i).replacing(with: 0, where: load(x + i) * a + b .<= 0), d + i)
            i += width
        }
        while i < count { d[i] = x[i] * scale + shift > 0 ? g[i] : 0; i += 1 }
    }

    /// c[i] = a[i] + b[i]; `c` may be `a` or `b`
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
                           count: Int) {
        var i = 0
        while i + width <= count {
            store(load(a + i) + load(b + i), c + i)
            i += width
        }
        while i < count { c[i] = a[i] + b[i]; i += 1 }
    }

    /// Σ x[i], accumulated in 16 lanes: a single running sum would serialise on the add latency.
    /// The lanes fix the summation order, so the result is still deterministic.
    public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = Vector()
        var i = 0
        while i + width <= count {
            lanes += load(x + i)
            i += width
        }
        var total = lanes.sum()
        while i < count { total += x[i]; i += 1 }
        return total
    }

    // Short rows. A convolution's im2col and col2im move rows as short as the image is wide (14 floats
    // in cnn-small's second layer), hundreds of thousands per batch: a memcpy call or a vectorised loop
    // with its alias checks per row cost several times the copy itself.
    typealias ShortVector = SIMD8<Float>

    @inline(__always)
    static func loadShort(_ pointer: UnsafePointer<Float>) -> ShortVector {
        UnsafeRawPointer(pointer).loadUnaligned(as: ShortVector.self)
    }

    @inline(__always)
    static func storeShort(_ vector: ShortVector, _ pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: vector, as: ShortVector.self)
    }

    /// The walk of the short-row kernels below over a row of `count` floats: rows of 8 or more as 8-wide
    /// vectors at offsets 0, 8, … and a last one at count − 8, overlapping its predecessor instead of a
    /// scalar tail; shorter rows one element at a time. So a kernel may compute an element twice, and
    /// must not write what it reads.
    @inline(__always)
    static func forEachShortVector(ofRow count: Int, _ vector: (Int) -> Void, element: (Int) -> Void) {
        let w = ShortVector.scalarCount
        guard count >= w else {
            for i in 0..<count { element(i) }
            return
        }
        var i = 0
        while i + w < count {
            vector(i)
            i += w
        }
        vector(count - w)
    }

    /// t[i] = s[i] for i in 0..<count; `s` and `t` must not overlap.
    @inline(__always)
    static func copyRow(_ s: UnsafePointer<Float>, to t: UnsafeMutablePointer<Float>, count: Int) {
        forEachShortVector(ofRow: count) { storeShort(loadShort(s + $0), t + $0) } element: { t[$0] = s[$0] }
    }

    /// t[i] = s[2·i] for i in 0..<count: a row of a stride-2 window, as the even lanes of 16-wide loads
    /// (a scalar strided gather cost a stride-2 convolution's unrolling several times more). `s` and
    /// `t` must not overlap. Rows of 8 or more also read s[2·count − 1], one past the last element
    /// copied, so that float must be readable (its lane is dropped).
    @inline(__always)
    static func copyEveryOther(_ s: UnsafePointer<Float>, to t: UnsafeMutablePointer<Float>, count: Int) {
        forEachShortVector(ofRow: count) { storeShort(load(s + 2 * $0).evenHalf, t + $0) } element: { t[$0] = s[2 * $0] }
    }

    /// t[i] += s[i] for i in 0..<count; `s` and `t` must not overlap. As `copyRow`: the overlapping last
    /// vector is summed from t's old values before anything is stored, so the overlap gets the same sum
    /// twice rather than s added twice.
    @inline(__always)
    static func addRow(_ s: UnsafePointer<Float>, to t: UnsafeMutablePointer<Float>, count: Int) {
        let w = ShortVector.scalarCount
        guard count >= w else {
            for i in 0..<count { t[i] += s[i] }
            return
        }
        let last = count - w
        let lastSum = loadShort(t + last) + loadShort(s + last)
        var i = 0
        while i + w < count {
            storeShort(loadShort(t + i) + loadShort(s + i), t + i)
            i += w
        }
        storeShort(lastSum, t + last)
    }

    // Per-channel statistics and affine maps (batch normalisation): each call covers one contiguous
    // plane of a channel, its reductions accumulated in 16 Float lanes; callers add the planes' results
    // in Double, so a sum over a whole batch keeps its precision.

    /// Σ (x[i] − mean)²
    public static func sumOfSquaredDeviations(_ x: UnsafePointer<Float>, from mean: Float, count: Int) -> Float {
        var lanes = Vector()
        let center = Vector(repeating: mean)
        var i = 0
        while i + width <= count {
            let d = load(x + i) - center
            lanes += d * d   // not addProduct: without FMA in the target it calls fmaf per lane
            i += width
        }
        var total = lanes.sum()
        while i < count { let d = x[i] - mean; total += d * d; i += 1 }
        return total
    }

    /// (Σ g[i], Σ g[i]·(x[i] − mean))
    public static func sumAndDeviationProduct(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, from mean: Float,
                                              count: Int) -> (sum: Float, product: Float) {
        var sumLanes = Vector(), productLanes = Vector()
        let center = Vector(repeating: mean)
        var i = 0
        while i + width <= count {
            let gv = load(g + i)
            sumLanes += gv
            productLanes += gv * (load(x + i) - center)
            i += width
        }
        var sum = sumLanes.sum(), product = productLanes.sum()
        while i < count { sum += g[i]; product += g[i] * (x[i] - mean); i += 1 }
        return (sum, product)
    }

    /// y[i] = x[i]·scale + shift
    public static func affine(_ x: UnsafePointer<Float>, scale: Float, shift: Float, into y: UnsafeMutablePointer<Float>,
                              count: Int) {
        let a = Vector(repeating: scale), b = Vector(repeating: shift)
        var i = 0
        while i + width <= count {
            store(load(x + i) * a + b, y + i)
            i += width
        }
        while i < count { y[i] = x[i] * scale + shift; i += 1 }
    }

    /// y[i] = max(x[i]·scale + shift, 0): a batch normalisation's affine map and the ReLU after it in one
    /// pass over the activations
    public static func affineReLU(_ x: UnsafePointer<Float>, scale: Float, shift: Float,
                                  into y: UnsafeMutablePointer<Float>, count: Int) {
        let a = Vector(repeating: scale), b = Vector(repeating: shift)
        var i = 0
        while i + width <= count {
            let v = load(x + i) * a + b
            store(v.replacing(with: 0, where: v .< 0), y + i)
            i += width
        }
        while i < count { y[i] = relu(x[i] * scale + shift); i += 1 }
    }

    /// max(v, 0) as the vector kernels compute it (v where v is not below 0, so −0 stays −0), for
    /// their scalar tails: a value gets the same bits in a vector and in a tail.
    @inline(__always)
    static func relu(_ v: Float) -> Float { v < 0 ? 0 : v }

    /// d[i] = α·g[i] + β·(x[i] − mean) + γ
    public static func combine(_ g: UnsafePointer<Float>, times alpha: Float, _ x: UnsafePointer<Float>, from mean: Float,
                               times beta: Float, plus gamma: Float, into d: UnsafeMutablePointer<Float>, count: Int) {
        let a = Vector(repeating: alpha), b = Vector(repeating: beta), c = Vector(repeating: gamma)
        let center = Vector(repeating: mean)
        var i = 0
        while i + width <= count {
            store(load(g + i) * a + (load(x + i) - center) * b + c, d + i)
            i += width
        }
        while i < count { d[i] = alpha * g[i] + beta * (x[i] - mean) + gamma; i += 1 }
    }

    /// d[i] = g[i]·scale
    public static func scale(_ g: UnsafePointer<Float>, by scale: Float, into d: UnsafeMutablePointer<Float>, count: Int) {
        let a = Vector(repeating: scale)
        var i = 0
        while i + width <= count {
            store(load(g + i) * a, d + i)
            i += width
        }
        while i < count { d[i] = g[i] * scale; i += 1 }
    }
}
