import AdvNN
import Foundation

/// `advbench --dense-layers`: the forward of each fully connected layer of the benchmark's models, on
/// one thread, computed by OpenBLAS as `Linear` does where no dense kernel is preferred (the bias
/// filled into the output, then sgemm adding in · Wᵀ) and by each dense kernel this CPU runs
/// (`DenseRowsKernel`), in GFLOP/s: the measurements behind `DenseRowsKernel.preferred`; then the
/// narrow layers' backward the same way (`runNarrowBackward`).
enum DenseLayerBench {
    /// (inputs, outputs) of the MLP's, the wide MLP's, `cnn-small`'s and LeNet's layers.
    static let layers = [(784, 256), (256, 256), (256, 10), (784, 1024), (1024, 1024), (1024, 10), (3136, 1024),
                         (400, 120), (120, 84), (84, 10)]

    static func run(batchSizes: [Int]) {
        let kernels = DenseRowsKernel.allCases.filter { $0.isAvailable && $0 != .portable }
        print("dense layer forward, one thread, GFLOP/s (×: the kernel's speed over OpenBLAS's; * where `preferred` picks it)")
        print("rows  inputs outputs   OpenBLAS" + kernels.map { "  " + $0.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0) }.joined())
        for rows in batchSizes {
            for (inputs, outputs) in layers {
                var rng = RandomStream(seed: 3, purpose: "bench.dense")
                let input = Tensor(zeros: Shape(rows, inputs)), weight = Tensor(zeros: Shape(outputs, inputs))
                let bias = Tensor(zeros: Shape(outputs)), output = Tensor(zeros: Shape(rows, outputs))
                for tensor in [input, weight, bias] {
                    for i in 0..<tensor.count { tensor[i] = rng.nextFloat(in: -1, 1) }
                }
                let flops = 2 * Double(rows * inputs * outputs)
                let blas = flops / Stopwatch.secondsPerCall(roundSeconds: 0.1) {
                    for n in 0..<rows { (output.data + n * outputs).update(from: bias.data, count: outputs) }
                    BLAS.gemm(transposeB: true, m: rows, n: outputs, k: inputs, a: input.data, b: weight.data, beta: 1,
                              c: output.data, on: .serial)
                } / 1e9
                var line = String(format: "%4d  %6d %7d   %8.1f", rows, inputs, outputs, blas)
                for kernel in kernels {
                    let rate = flops / Stopwatch.secondsPerCall(roundSeconds: 0.1) {
                        kernel.forward(input.data, rows: rows, inputs: inputs, weight: weight.data, outputs: outputs,
                                       bias: bias.data, into: output.data, outputStride: outputs)
                    } / 1e9
                    let chosen = DenseRowsKernel.preferred(rows: rows, outputs: outputs) == kernel ? "*" : " "
                    line += String(format: "  %8.1f %5.2f×", rate, rate / blas) + chosen
                }
                print(line)
            }
        }
        runNarrowBackward(batchSizes: batchSizes)
    }

    /// The narrow layers' backward: both gradients by OpenBLAS, as `Linear` computed them before, and by
    /// the narrow kernels (`DenseRowsKernel.narrowBackward`), one thread: the measurements behind that rule.
    static func runNarrowBackward(batchSizes: [Int]) {
        let kernels = DenseRowsKernel.allCases.filter { $0.isAvailable && $0 != .portable }
        print("\nnarrow layer backward (weight and input gradients), one thread, GFLOP/s (×: over OpenBLAS's)")
        print("rows  inputs outputs   OpenBLAS" + kernels.map { "  " + $0.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0) }.joined())
        for rows in batchSizes {
            for (inputs, outputs) in layers where outputs < DenseRowsKernel.narrowOutputs {
                var rng = RandomStream(seed: 4, purpose: "bench.narrow")
                let input = Tensor(zeros: Shape(rows, inputs)), weight = Tensor(zeros: Shape(outputs, inputs))
                let dOutput = Tensor(zeros: Shape(rows, outputs))
                let dWeight = Tensor(zeros: Shape(outputs, inputs)), dInput = Tensor(zeros: Shape(rows, inputs))
                let scratch = Tensor(zeros: Shape(DenseRowsKernel.narrowScratchFloats(outputs: outputs, columns: inputs)))
                for tensor in [input, weight, dOutput] {
                    for i in 0..<tensor.count { tensor[i] = rng.nextFloat(in: -1, 1) }
                }
                let flops = 4 * Double(rows * inputs * outputs)
                let blas = flops / Stopwatch.secondsPerCall(roundSeconds: 0.1) {
                    BLAS.gemm(transposeA: true, m: outputs, n: inputs, k: rows, a: dOutput.data, b: input.data, beta: 1,
                              c: dWeight.data, on: .serial)
                    BLAS.gemm(m: rows, n: inputs, k: outputs, a: dOutput.data, b: weight.data, c: dInput.data, on: .serial)
                } / 1e9
                var line = String(format: "%4d  %6d %7d   %8.1f", rows, inputs, outputs, blas)
                for kernel in kernels {
                    let rate = flops / Stopwatch.secondsPerCall(roundSeconds: 0.1) {
                        kernel.narrowWeightGradient(dOutput.data, rows: rows, outputs: outputs, input: input.data,
                                                    columns: inputs, stride: inputs, into: dWeight.data, scratch: scratch.data)
                        kernel.narrowInputGradient(dOutput.data, rows: rows, outputs: outputs, weight: weight.data,
                                                   columns: inputs, stride: inputs, into: dInput.data, scratch: scratch.data)
                    } / 1e9
                    let chosen = DenseRowsKernel.narrowBackward(rows: rows, outputs: outputs) == kernel ? "*" : " "
                    line += String(format: "  %8.1f %5.2f×", rate, rate / blas) + chosen
                }
                print(line)
            }
        }
    }
}
