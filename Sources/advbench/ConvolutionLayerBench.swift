import AdvNN
import Foundation

/// `advbench --conv-layers`: each convolution of the benchmark's image models, one thread, by every
/// algorithm that applies to it: the forward, the weight gradient and the input gradient apart, in
/// milliseconds per batch (best of several rounds, `Stopwatch`). The measurements behind
/// `ConvolutionAlgorithm`'s limits; `*` marks the pass each layer runs by default.
enum ConvolutionLayerBench {
    struct Layer {
        let name: String
        let inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int, padding: Int, side: Int

        init(_ name: String, _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int, padding: Int, side: Int) {
            self.name = name
            self.inChannels = inChannels
            self.outChannels = outChannels
            kernelSize = kernel
            self.stride = stride
            self.padding = padding
            self.side = side
        }
    }

    /// `cnn-small`'s, LeNet's and the pre-activation ResNet's convolutions on 28 × 28 inputs (one
    /// line per distinct layer: the ResNet's first stage has two of its 16-channel layers).
    static let layers = [
        Layer("cnn-small conv1", 1, 32, kernel: 5, stride: 1, padding: 2, side: 28),
        Layer("cnn-small conv2", 32, 64, kernel: 5, stride: 1, padding: 2, side: 14),
        Layer("lenet conv1", 1, 6, kernel: 5, stride: 1, padding: 2, side: 28),
        Layer("lenet conv2", 6, 16, kernel: 5, stride: 1, padding: 0, side: 14),
        Layer("resnet stem", 1, 16, kernel: 3, stride: 1, padding: 1, side: 28),
        Layer("resnet 16→16", 16, 16, kernel: 3, stride: 1, padding: 1, side: 28),
        Layer("resnet 16→32 /2", 16, 32, kernel: 3, stride: 2, padding: 1, side: 28),
        Layer("resnet 1×1 16→32 /2", 16, 32, kernel: 1, stride: 2, padding: 0, side: 28),
        Layer("resnet 32→32", 32, 32, kernel: 3, stride: 1, padding: 1, side: 14),
        Layer("resnet 32→64 /2", 32, 64, kernel: 3, stride: 2, padding: 1, side: 14),
        Layer("resnet 1×1 32→64 /2", 32, 64, kernel: 1, stride: 2, padding: 0, side: 14),
        Layer("resnet 64→64", 64, 64, kernel: 3, stride: 1, padding: 1, side: 7),
    ]

    static func run(batchSizes: [Int]) {
        print("convolution layers, one thread, ms per batch (* the layer's default path)")
        print("batch  layer                  algorithm    forward   weight grad    input grad   (GFLOP per pass)")
        for batch in batchSizes {
            for layer in layers {
                var rng = RandomStream(seed: 5, purpose: "bench.conv")
                let conv = Conv2D(inChannels: layer.inChannels, outChannels: layer.outChannels, kernelSize: layer.kernelSize,
                                  stride: layer.stride, padding: layer.padding, rng: &rng)
                // the paths the layer takes by default: its forward's, and each gradient's
                let preferred = conv.algorithm
                func preferredPath(_ gradient: ConvolutionGradient) -> ConvolutionAlgorithm {
                    guard preferred == .direct else { return preferred }
                    return ConvolutionAlgorithm.prefersDirectBackward(for: conv.geometry, gradient) ? .direct : .unrolled
                }
                let input = Tensor(zeros: Shape(batch, layer.inChannels, layer.side, layer.side))
                for i in 0..<input.count { input[i] = rng.nextFloat(in: 0, 1) }
                let dOutput = Tensor(zeros: conv.outputShape(for: input.shape))
                for i in 0..<dOutput.count { dOutput[i] = rng.nextFloat(in: -1, 1) }
                let flops = 2 * Double(dOutput.count * layer.inChannels * layer.kernelSize * layer.kernelSize)
                for algorithm in ConvolutionAlgorithm.allCases where algorithm.applies(to: conv.geometry) {
                    conv.algorithm = algorithm
                    conv.directBackward = algorithm == .direct   // each row times its own algorithm's backward
                    let forward = Stopwatch.secondsPerCall(rounds: 3, roundSeconds: 0.1) { _ = conv.forward(input) }
                    let weightGradient = Stopwatch.secondsPerCall(rounds: 3, roundSeconds: 0.1) {
                        _ = conv.backward(dOutput, request: GradientRequest(input: false, parameters: true))
                    }
                    let inputGradient = Stopwatch.secondsPerCall(rounds: 3, roundSeconds: 0.1) {
                        _ = conv.backward(dOutput, request: .inputOnly)
                    }
                    func cell(_ seconds: Double, _ isDefault: Bool) -> String {
                        String(format: "%9.2f%@", seconds * 1000, isDefault ? "*" : " ")
                    }
                    print(String(format: "%5d  ", batch) + layer.name.padding(toLength: 22, withPad: " ", startingAt: 0)
                          + " " + algorithm.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
                          + cell(forward, algorithm == preferred)
                          + "    " + cell(weightGradient, algorithm == preferredPath(.weights))
                          + "    " + cell(inputGradient, algorithm == preferredPath(.input))
                          + String(format: "   (%.3f)", flops / 1e9))
                }
            }
        }
    }
}
