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
    }

    /// `cnn-small`'s, LeNet's and the pre-activation ResNet's convolutions on 28 × 28 inputs (one
    /// line per distinct layer: the ResNet's first stage has two of its 16-channel layers).
    static let layers = [
        Layer(name: "cnn-small conv1", inChannels: 1, outChannels: 32, kernelSize: 5, stride: 1, padding: 2, side: 28),
        Layer(name: "cnn-small conv2", inChannels: 32, outChannels: 64, kernelSize: 5, stride: 1, padding: 2, side: 14),
        Layer(name: "lenet conv1", inChannels: 1, outChannels: 6, kernelSize: 5, stride: 1, padding: 2, side: 28),
        Layer(name: "lenet conv2", inChannels: 6, outChannels: 16, kernelSize: 5, stride: 1, padding: 0, side: 14),
        Layer(name: "resnet stem", inChannels: 1, outChannels: 16, kernelSize: 3, stride: 1, padding: 1, side: 28),
        Layer(name: "resnet 16→16", inChannels: 16, outChannels: 16, kernelSize: 3, stride: 1, padding: 1, side: 28),
        Layer(name: "resnet 16→32 /2", inChannels: 16, outChannels: 32, kernelSize: 3, stride: 2, padding: 1, side: 28),
        Layer(name: "resnet 1×1 16→32 /2", inChannels: 16, outChannels: 32, kernelSize: 1, stride: 2, padding: 0, side: 28),
        Layer(name: "resnet 32→32", inChannels: 32, outChannels: 32, kernelSize: 3, stride: 1, padding: 1, side: 14),
        Layer(name: "resnet 32→64 /2", inChannels: 32, outChannels: 64, kernelSize: 3, stride: 2, padding: 1, side: 14),
        Layer(name: "resnet 1×1 32→64 /2", inChannels: 32, outChannels: 64, kernelSize: 1, stride: 2, padding: 0, side: 14),
        Layer(name: "resnet 64→64", inChannels: 64, outChannels: 64, kernelSize: 3, stride: 1, padding: 1, side: 7),
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
                          + "    " + cell(inputGradient, algorithm == preferredPath(.input)) + String(format: "   (%.3f)", flops / 1e9))
                }
            }
        }
    }
}
