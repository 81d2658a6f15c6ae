import AdvNN
import Testing

@Suite struct TensorTests {
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmMatchesNaiveTwin(transposeA: Bool, transposeB: Bool) {
        var rng = RandomStream(seed: 11)
        let m = 7, n = 5, k = 9
        let a = Tensor(zeros: transposeA ? Shape(k, m) : Shape(m, k))
        let b = Tensor(zeros: transposeB ? Shape(n, k) : Shape(k, n))
        let fast = Tensor(zeros: Shape(m, n)), naive = Tensor(zeros: Shape(m, n))
        GradientCheck.fill(a, rng: &rng)
        GradientCheck.fill(b, rng: &rng)
        GradientCheck.fill(fast, rng: &rng)
        naive.assign(fast)
        BLAS.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.5,
                  a: a.data, b: b.data, beta: 2, c: fast.data, on: .serial)
        BLAS.gemmNaive(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.5,
                       a: a.data, b: b.data, beta: 2, c: naive.data)
        for i in 0..<fast.count { #expect(abs(fast[i] - naive[i]) < 1e-5) }
    }

    @Test func gemmKnownProduct() {
        let a = Tensor(shape: Shape(2, 3), scalars: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: Shape(3, 2), scalars: [7, 8, 9, 10, 11, 12])
        let c = Tensor(zeros: Shape(2, 2))
        BLAS.gemm(m: 2, n: 2, k: 3, a: a.data, b: b.data, c: c.data, on: .serial)
        #expect(c.scalars == [58, 64, 139, 154])
    }

    @Test func resizeWithinCapacityKeepsMemory() {
        let tensor = Tensor(zeros: Shape(4, 8))
        let memory = tensor.data
        tensor.resize(to: Shape(3, 8))
        #expect(tensor.data == memory && tensor.count == 24)
        tensor.resize(to: Shape(4, 8))
        #expect(tensor.data == memory)
        tensor.resize(to: Shape(5, 8))
        #expect(tensor.count == 40 && tensor.capacity >= 40)
    }

    @Test func viewsShareMemory() {
        let tensor = Tensor(shape: Shape(2, 3), scalars: [1, 2, 3, 4, 5, 6])
        let flat = tensor.reshaped(to: Shape(6))
        flat[4] = 50
        #expect(tensor[4] == 50 && flat.isView)
        let second = tensor.items(1..<2)
        #expect(second.shape == Shape(1, 3) && second.scalars == [4, 50, 6])
    }

    @Test func shapeArithmetic() {
        let shape = Shape(128, 1, 28, 28)
        #expect(shape.elementCount == 128 * 784 && shape.elementsPerItem == 784)
        #expect(shape.withBatchSize(3) == Shape(3, 1, 28, 28))
        #expect(Shape(2, 3) != Shape(3, 2) && Shape(2, 3) != Shape(2, 3, 1))
        #expect(Shape(2, 3).description == "[2, 3]")
    }
}

@Suite struct GEMMThreadingTests {
    @Test(arguments: [(8, 4096, 36, false, false), (64, 800, 1568, false, true), (800, 1568, 64, true, false),
                      (36, 4096, 4, true, false), (128, 256, 784, false, true), (256, 784, 128, true, false),
                      (300, 40, 500, false, false),
                      // taller than wide: split into two blocks of rows (the MLP's forward at batch 512), or four
                      (512, 256, 200, false, true), (200, 96, 64, true, true), (1024, 128, 40, true, false)])
    func resultsDoNotDependOnTheThreadCount(m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) {
        var rng = RandomStream(seed: 12)
        let a = Tensor(zeros: Shape(m * k)), b = Tensor(zeros: Shape(k * n))
        GradientCheck.fill(a, rng: &rng)
        GradientCheck.fill(b, rng: &rng)
        var results: [[UInt32]] = []
        for threads in [1, 2, 3] {
            let c = Tensor(repeating: 1, shape: Shape(m * n))
            BLAS.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a.data, b: b.data, beta: 0.5, c: c.data,
                      on: ComputeContext(threads: threads))
            results.append(c.scalars.map(\.bitPattern))
        }
        #expect(results[0] == results[1] && results[0] == results[2])
        // and the blocks compute the right product
        let reference = Tensor(repeating: 1, shape: Shape(m * n))
        BLAS.gemmNaive(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a.data, b: b.data, beta: 0.5, c: reference.data)
        let worst = zip(results[0], reference.scalars).map { abs(Float(bitPattern: $0) - $1) }.max()!
        #expect(worst < 1e-3)
    }
}
