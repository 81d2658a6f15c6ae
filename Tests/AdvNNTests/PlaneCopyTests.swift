import AdvNN
import Testing

/// The plane copies that feed the direct kernels: each vector kernel the CPU runs against its portable
/// twin, bit for bit, and the twin against the definition.
@Suite struct PlaneCopyTests {
    /// (rows, columns, column step): rows of 7 and 14 floats (the ResNet's 7 × 7 and 14 × 14 planes, no
    /// full vector), 16 and 17 (a full AVX-512 vector, and one more), 28 and 33 (two vectors, the last
    /// partial), a single column, and steps of 2 (phase planes) and 3 (the portable path).
    static let shapes = [(3, 7, 1), (2, 14, 1), (2, 16, 1), (2, 17, 1), (4, 28, 1), (1, 33, 1), (3, 1, 1),
                         (3, 7, 2), (2, 14, 2), (2, 8, 2), (2, 16, 2), (2, 17, 2), (2, 15, 3)]

    static func run(_ kernel: PlaneCopyKernel, rows: Int, columns: Int, step: Int, affine: [Float]?) -> [UInt32] {
        let sourceRowStride = columns * step + 3
        var rng = RandomStream(seed: 51)
        var source = (0..<(rows * sourceRowStride)).map { _ in rng.nextFloat(in: -2, 2) }
        source[0] = -0.0
        source[min(step, source.count - 1)] = .nan
        let targetRowStride = columns + 5
        // the target starts as a sentinel: what the copy does not write must keep it
        var target = [Float](repeating: 7, count: rows * targetRowStride + 4)
        source.withUnsafeBufferPointer { s in
            target.withUnsafeMutableBufferPointer { t in
                if let affine {
                    affine.withUnsafeBufferPointer { a in
                        kernel.copy(s.baseAddress!, rows: rows, columns: columns, sourceRowStride: sourceRowStride,
                                    columnStep: step, into: t.baseAddress! + 2, targetRowStride: targetRowStride,
                                    affine: a.baseAddress!)
                    }
                } else {
                    kernel.copy(s.baseAddress!, rows: rows, columns: columns, sourceRowStride: sourceRowStride,
                                columnStep: step, into: t.baseAddress! + 2, targetRowStride: targetRowStride, affine: nil)
                }
            }
        }
        return target.map(\.bitPattern)
    }

    @Test(arguments: shapes, [nil, [1.5, -0.25], [1.5, -0.0]] as [[Float]?])
    func vectorKernelsMatchThePortableTwin(shape: (Int, Int, Int), affine: [Float]?) {
        let (rows, columns, step) = shape
        let twin = Self.run(.portable, rows: rows, columns: columns, step: step, affine: affine)
        for kernel in [PlaneCopyKernel.avx512, .avx2] where kernel.isAvailable {
            #expect(Self.run(kernel, rows: rows, columns: columns, step: step, affine: affine) == twin, "\(kernel)")
        }
    }

    static func runAdd(_ kernel: PlaneCopyKernel, rows: Int, columns: Int, withAddend: Bool) -> [UInt32] {
        let sourceRowStride = columns + 3, targetRowStride = columns
        var rng = RandomStream(seed: 52)
        var source = (0..<(rows * sourceRowStride)).map { _ in rng.nextFloat(in: -2, 2) }
        source[0] = -0.0
        let addend = (0..<(rows * targetRowStride)).map { _ in rng.nextFloat(in: -2, 2) }
        var target = [Float](repeating: 7, count: rows * targetRowStride + 4)
        source.withUnsafeBufferPointer { s in
            addend.withUnsafeBufferPointer { a in
                target.withUnsafeMutableBufferPointer { t in
                    kernel.add(s.baseAddress!, rows: rows, columns: columns, sourceRowStride: sourceRowStride,
                               addend: withAddend ? a.baseAddress! : nil, bias: 0.375, into: t.baseAddress! + 2,
                               targetRowStride: targetRowStride)
                }
            }
        }
        // the definition, for the twin: one rounded sum per float, nothing else written
        if kernel == .portable {
            for r in 0..<rows {
                for j in 0..<columns {
                    let expected = source[r * sourceRowStride + j] + (withAddend ? addend[r * targetRowStride + j] : 0.375)
                    #expect(target[2 + r * targetRowStride + j].bitPattern == expected.bitPattern)
                }
            }
            #expect(target.prefix(2).allSatisfy { $0 == 7 } && target.suffix(2).allSatisfy { $0 == 7 })
        }
        return target.map(\.bitPattern)
    }

    /// The direct kernels' output rows copied out with a bias or a residual: each vector kernel the CPU
    /// runs gives the twin's bits (rows of 7, 14, 16 and 28 floats).
    @Test(arguments: [(3, 7), (2, 14), (2, 16), (4, 28)], [false, true])
    func addingKernelsMatchThePortableTwin(shape: (Int, Int), withAddend: Bool) {
        let twin = Self.runAdd(.portable, rows: shape.0, columns: shape.1, withAddend: withAddend)
        for kernel in [PlaneCopyKernel.avx512, .avx2] where kernel.isAvailable {
            #expect(Self.runAdd(kernel, rows: shape.0, columns: shape.1, withAddend: withAddend) == twin, "\(kernel)")
        }
    }

    /// The twin is the definition: the strided source through the map, −0 and NaN kept, nothing else
    /// written.
    @Test func portableTwinIsTheDefinition() {
        let rows = 2, columns = 5, step = 2, sourceRowStride = columns * step + 3, targetRowStride = columns + 5
        var rng = RandomStream(seed: 51)
        var source = (0..<(rows * sourceRowStride)).map { _ in rng.nextFloat(in: -2, 2) }
        source[0] = -0.0
        source[step] = .nan
        let copied = Self.run(.portable, rows: rows, columns: columns, step: step, affine: [1.5, -0.25])
        for index in copied.indices {
            let r = (index - 2) / targetRowStride, j = (index - 2) % targetRowStride
            if index >= 2 && r < rows && j < columns {
                let y = source[r * sourceRowStride + j * step] * 1.5 + -0.25
                #expect(copied[index] == (y < 0 ? 0 : y).bitPattern, "row \(r), column \(j)")
            } else {
                #expect(copied[index] == Float(7).bitPattern, "index \(index) written")
            }
        }
    }
}

/// The stride-2 input gradient's merge of two phase planes into every other row of a plane.
@Suite struct PlaneInterleaveTests {
    /// Target rows of 1 and 2 columns (a lone even column; one of each), 7, 14 and 28 (the ResNet's
    /// planes: partial vectors of both phases), 31, 32 and 33 (a full AVX-512 pair of vectors, and either
    /// side of it); with both phases, and with either missing (read as zeros).
    static let shapes = [(2, 1), (3, 2), (3, 7), (2, 14), (4, 28), (2, 31), (2, 32), (2, 33)]
    static let phases = [(true, true), (true, false), (false, true)]

    static func run(_ kernel: PlaneCopyKernel, rows: Int, columns: Int, even hasEven: Bool, odd hasOdd: Bool) -> [UInt32] {
        let sourceRowStride = (columns + 1) / 2 + 3, targetRowStride = 2 * columns + 1
        var rng = RandomStream(seed: 53)
        let even = (0..<(rows * sourceRowStride)).map { _ in rng.nextFloat(in: -2, 2) }
        let odd = (0..<(rows * sourceRowStride)).map { _ in rng.nextFloat(in: -2, 2) }
        // the target starts as a sentinel: what the merge does not write must keep it
        var target = [Float](repeating: 7, count: rows * targetRowStride + 4)
        even.withUnsafeBufferPointer { e in
            odd.withUnsafeBufferPointer { o in
                target.withUnsafeMutableBufferPointer { t in
                    kernel.interleave(even: hasEven ? e.baseAddress! : nil, odd: hasOdd ? o.baseAddress! : nil,
                                      rows: rows, columns: columns, sourceRowStride: sourceRowStride,
                                      into: t.baseAddress! + 2, targetRowStride: targetRowStride)
                }
            }
        }
        if kernel == .portable {
            // the definition: column 2j is even's j, column 2j + 1 odd's j, a missing phase zeros
            for r in 0..<rows {
                for x in 0..<columns {
                    let phase = x % 2 == 0 ? (hasEven ? even : nil) : (hasOdd ? odd : nil)
                    #expect(target[2 + r * targetRowStride + x] == phase?[r * sourceRowStride + x / 2] ?? 0)
                }
                #expect(target[2 + r * targetRowStride + columns] == 7)
            }
            #expect(target.prefix(2).allSatisfy { $0 == 7 } && target.suffix(2).allSatisfy { $0 == 7 })
        }
        return target.map(\.bitPattern)
    }

    @Test(arguments: shapes, phases)
    func vectorKernelsMatchThePortableTwin(shape: (Int, Int), phases: (Bool, Bool)) {
        let (rows, columns) = shape
        let twin = Self.run(.portable, rows: rows, columns: columns, even: phases.0, odd: phases.1)
        for kernel in [PlaneCopyKernel.avx512, .avx2] where kernel.isAvailable {
            #expect(Self.run(kernel, rows: rows, columns: columns, even: phases.0, odd: phases.1) == twin, "\(kernel)")
        }
    }
}
