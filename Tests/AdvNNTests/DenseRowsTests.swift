import AdvNN
import Testing

/// The dense kernels of `Linear`'s forward: each vector kernel the CPU runs against the portable twin
/// (to rounding: they sum in other orders), and against itself cut into blocks of rows and columns (bit
/// for bit: the promise that lets `Linear` divide the columns among threads any way it likes).
@Suite struct DenseRowsTests {
    /// (rows, inputs, outputs): tiles with rows and columns left over (7 × 13), inputs below one vector,
    /// at one vector, one more, and with partial last vectors of both widths (37, 100), a single
    /// output, and a full-sized MLP layer at batch 32.
    static let shapes = [(7, 37, 13), (1, 1, 1), (3, 5, 2), (5, 16, 9), (6, 17, 4), (33, 100, 17), (2, 8, 1),
                         (4, 24, 10), (32, 784, 256)]

    struct Product {
        let rows: Int, inputs: Int, outputs: Int
        let input: [Float], weight: [Float], bias: [Float]
        /// Room around each output row, holding a sentinel the kernel must leave alone.
        var outputStride: Int { outputs + 3 }

        init(rows: Int, inputs: Int, outputs: Int) {
            self.rows = rows
            self.inputs = inputs
            self.outputs = outputs
            var rng = RandomStream(seed: 61)
            input = (0..<(rows * inputs)).map { _ in rng.nextFloat(in: -1, 1) }
            weight = (0..<(outputs * inputs)).map { _ in rng.nextFloat(in: -1, 1) }
            bias = (0..<outputs).map { _ in rng.nextFloat(in: -1, 1) }
        }

        /// The kernel's output over the rows `rowBlock` and the columns `columnBlock` at a time.
        func run(_ kernel: DenseRowsKernel, rowBlock: Int? = nil, columnBlock: Int? = nil) -> [Float] {
            var output = [Float](repeating: 7, count: rows * outputStride)
            let rowStep = rowBlock ?? rows, columnStep = columnBlock ?? outputs
            input.withUnsafeBufferPointer { x in
                weight.withUnsafeBufferPointer { w in
                    bias.withUnsafeBufferPointer { b in
                        output.withUnsafeMutableBufferPointer { y in
                            for i in stride(from: 0, to: rows, by: rowStep) {
                                for j in stride(from: 0, to: outputs, by: columnStep) {
                                    kernel.forward(x.baseAddress! + i * inputs, rows: min(rowStep, rows - i),
                                                   inputs: inputs, weight: w.baseAddress! + j * inputs,
                                                   outputs: min(columnStep, outputs - j), bias: b.baseAddress! + j,
                                                   into: y.baseAddress! + i * outputStride + j,
                                                   outputStride: outputStride)
                                }
                            }
                        }
                    }
                }
            }
            return output
        }

        /// The definition, summed in Double.
        func reference(row i: Int, output j: Int) -> Double {
            var sum = 0.0
            for k in 0..<inputs { sum += Double(input[i * inputs + k]) * Double(weight[j * inputs + k]) }
            return sum + Double(bias[j])
        }
    }

    @Test(arguments: shapes)
    func everyKernelComputesTheLayer(shape: (Int, Int, Int)) {
        let product = Product(rows: shape.0, inputs: shape.1, outputs: shape.2)
        for kernel in DenseRowsKernel.allCases where kernel.isAvailable {
            let output = product.run(kernel)
            var largest = 0.0
            for i in 0..<product.rows {
                for j in 0..<product.outputs {
                    largest = max(largest, abs(Double(output[i * product.outputStride + j]) - product.reference(row: i, output: j)))
                }
                // past the outputs, the row's padding is untouched
                for j in product.outputs..<product.outputStride {
                    #expect(output[i * product.outputStride + j] == 7, "\(kernel) wrote past row \(i)")
                }
            }
            #expect(largest < 1e-5 * Double(max(product.inputs, 1)), "\(kernel)")
        }
    }

    @Test(arguments: shapes)
    func blocksOfRowsAndColumnsGiveTheSameBits(shape: (Int, Int, Int)) {
        let product = Product(rows: shape.0, inputs: shape.1, outputs: shape.2)
        for kernel in [DenseRowsKernel.avx512, .avx2] where kernel.isAvailable {
            let whole = product.run(kernel).map(\.bitPattern)
            for (rowBlock, columnBlock) in [(1, 1), (3, 5), (2, 7), (5, 3)] {
                #expect(product.run(kernel, rowBlock: rowBlock, columnBlock: columnBlock).map(\.bitPattern) == whole,
                        "\(kernel) in blocks of \(rowBlock) rows × \(columnBlock) columns")
            }
        }
    }

    @Test func theShapeAloneChoosesTheKernel() {
        switch DenseRowsKernel.fastest {
        case .avx512:
            #expect(DenseRowsKernel.preferred(rows: 32, outputs: 1024) == .avx512)
            #expect(DenseRowsKernel.preferred(rows: 33, outputs: 1024) == nil)
            #expect(DenseRowsKernel.preferred(rows: 128, outputs: 10) == .avx512)
            #expect(DenseRowsKernel.preferred(rows: 129, outputs: 10) == nil)
        case .avx2:
            #expect(DenseRowsKernel.preferred(rows: 8, outputs: 1024) == .avx2)
            #expect(DenseRowsKernel.preferred(rows: 32, outputs: 1024) == nil)
            #expect(DenseRowsKernel.preferred(rows: 128, outputs: 10) == .avx2)
        case .portable:
            #expect(DenseRowsKernel.preferred(rows: 1, outputs: 1) == nil)
        }
    }
}
