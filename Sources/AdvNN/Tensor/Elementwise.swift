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
}
