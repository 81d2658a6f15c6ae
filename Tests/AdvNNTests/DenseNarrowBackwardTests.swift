import AdvNN
import Testing

/// The narrow layer's backward kernels (dense_narrow.h): each vector kernel the CPU runs against the
/// definition (to rounding) and the two vector kernels against each other and against themselves cut
/// into blocks of columns (bit for bit: `Linear` divides the columns among its threads).
@Suite struct DenseNarrowBackwardTests {
    /// (rows, inputs, outputs): rows past a block of eight and of sixty-four with some left over, columns
    /// below one vector and with partial last vectors of both widths, one output, a ten-class head with
    /// 4 KB rows, and outputs past a group of ten.
    static let shapes = [(3, 5, 1), (9, 37, 10), (70, 100, 7), (130, 1024, 10), (17, 16, 23), (1, 8, 31), (65, 84, 10)]

    struct Product {
        let rows: Int, inputs: Int, outputs: Int
        let input: [Float], weight: [Float], dOutput: [Float], dWeightBefore: [Float]

        init(rows: Int, inputs: Int, outputs: Int) {
            self.rows = rows
            self.inputs = inputs
            self.outputs = outputs
            var rng = RandomStream(seed: 62)
            input = (0..<(rows * inputs)).map { _ in rng.nextFloat(in: -1, 1) }
            weight = (0..<(outputs * inputs)).map { _ in rng.nextFloat(in: -1, 1) }
            dOutput = (0..<(rows * outputs)).map { _ in rng.nextFloat(in: -1, 1) }
            dWeightBefore = (0..<(outputs * inputs)).map { _ in rng.nextFloat(in: -1, 1) }
        }

        /// Both gradients from the kernel, `block` columns at a time: blocks of a multiple of 16 share one
        /// scratch as `Linear`'s threads do, others take one each.
        func run(_ kernel: DenseRowsKernel, block: Int? = nil) -> (dWeight: [Float], dInput: [Float]) {
            var dWeight = dWeightBefore, dInput = [Float](repeating: 7, count: rows * inputs)
            let step = block ?? inputs, shared = step % 16 == 0 || step == inputs
            var scratch = [Float](repeating: .nan, count: shared
                ? DenseRowsKernel.narrowScratchFloats(outputs: outputs, columns: inputs)
                : DenseRowsKernel.narrowScratchFloats(outputs: outputs, columns: step) * ((inputs + step - 1) / step))
            input.withUnsafeBufferPointer { x in
                weight.withUnsafeBufferPointer { w in
                    dOutput.withUnsafeBufferPointer { g in
                        dWeight.withUnsafeMutableBufferPointer { dW in
                            dInput.withUnsafeMutableBufferPointer { dX in
                                scratch.withUnsafeMutableBufferPointer { s in
                                    for c in stride(from: 0, to: inputs, by: step) {
                                        let columns = min(step, inputs - c)
                                        let region = s.baseAddress! + (shared ? c * outputs
                                            : c / step * DenseRowsKernel.narrowScratchFloats(outputs: outputs, columns: step))
                                        kernel.narrowWeightGradient(g.baseAddress!, rows: rows, outputs: outputs,
                                                                    input: x.baseAddress! + c, columns: columns, stride: inputs,
                                                                    into: dW.baseAddress! + c, scratch: region)
                                        kernel.narrowInputGradient(g.baseAddress!, rows: rows, outputs: outputs,
                                                                   weight: w.baseAddress! + c, columns: columns, stride: inputs,
                                                                   into: dX.baseAddress! + c, scratch: region)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return (dWeight, dInput)
        }
    }

    @Test(arguments: shapes)
    func everyKernelComputesBothGradients(shape: (Int, Int, Int)) {
        let product = Product(rows: shape.0, inputs: shape.1, outputs: shape.2)
        let (rows, inputs, outputs) = shape
        for kernel in DenseRowsKernel.allCases where kernel.isAvailable {
            let (dWeight, dInput) = product.run(kernel)
            var largest = 0.0
            for o in 0..<outputs {
                for c in 0..<inputs {
                    var sum = Double(product.dWeightBefore[o * inputs + c])
                    for n in 0..<rows { sum += Double(product.dOutput[n * outputs + o]) * Double(product.input[n * inputs + c]) }
                    largest = max(largest, abs(Double(dWeight[o * inputs + c]) - sum))
                }
            }
            for n in 0..<rows {
                for c in 0..<inputs {
                    var sum = 0.0
                    for o in 0..<outputs { sum += Double(product.dOutput[n * outputs + o]) * Double(product.weight[o * inputs + c]) }
                    largest = max(largest, abs(Double(dInput[n * inputs + c]) - sum))
                }
            }
            #expect(largest < 1e-5 * Double(max(rows, outputs)), "\(kernel) on \(shape)")
        }
    }

    @Test(arguments: shapes)
    func blocksOfColumnsAndBothInstructionSetsGiveTheSameBits(shape: (Int, Int, Int)) {
        let product = Product(rows: shape.0, inputs: shape.1, outputs: shape.2)
        let kernels = [DenseRowsKernel.avx512, .avx2].filter(\.isAvailable)
        guard let first = kernels.first else { return }
        let whole = product.run(first)
        for kernel in kernels {
            for block in [nil, 16, 32, 5] {
                let result = product.run(kernel, block: block)
                #expect(result.dWeight.map(\.bitPattern) == whole.dWeight.map(\.bitPattern), "\(kernel), blocks of \(block ?? 0)")
                #expect(result.dInput.map(\.bitPattern) == whole.dInput.map(\.bitPattern), "\(kernel), blocks of \(block ?? 0)")
            }
        }
    }

    @Test func theShapeAloneChoosesTheKernel() {
        switch DenseRowsKernel.fastest {
        case .avx512:
            #expect(DenseRowsKernel.narrowBackward(rows: 1, outputs: 31) == .avx512)
            #expect(DenseRowsKernel.narrowBackward(rows: 512, outputs: 32) == nil)
        case .avx2:
            #expect(DenseRowsKernel.narrowBackward(rows: 128, outputs: 10) == .avx2)
            #expect(DenseRowsKernel.narrowBackward(rows: 127, outputs: 10) == nil)
            #expect(DenseRowsKernel.narrowBackward(rows: 512, outputs: 32) == nil)
        case .portable:
            #expect(DenseRowsKernel.narrowBackward(rows: 512, outputs: 10) == nil)
        }
    }
}
