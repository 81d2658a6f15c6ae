import AdvNN
import Dispatch

/// Per-layer time of a training step: where a model's step spends its time, to guide optimisation.
enum LayerProfile {
    static func run(model: Sequential, input: Tensor, labels: [Int], repeats: Int = 20) {
        let layers = model.layers
        var forward = [Double](repeating: 0, count: layers.count)
        var backward = [Double](repeating: 0, count: layers.count)
        let dLogits = Tensor(zeros: Shape(0, 0))
        var activations = [Tensor](repeating: input, count: layers.count + 1)
        func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        for round in 0..<(repeats + 2) {
            let measured = round >= 2   // two warm-up rounds
            for (index, layer) in layers.enumerated() {
                let start = now()
                activations[index + 1] = layer.forward(activations[index])
                if measured { forward[index] += now() - start }
            }
            _ = CrossEntropy().compute(logits: activations[layers.count], labels: labels, reduction: .mean,
                                       gradient: dLogits, perExample: nil)
            var gradient = dLogits
            for index in layers.indices.reversed() {
                let start = now()
                // what a training step asks of each layer: no input gradient below the first parameters
                let result = layers[index].backward(gradient, request: model.gradientRequest(forLayer: index, .parametersOnly))
                if measured { backward[index] += now() - start }
                guard let next = result else { break }
                gradient = next
            }
        }
        print("layer                         forward ms   backward ms")
        for (index, layer) in layers.enumerated() {
            let name = "\(index) \(type(of: layer))".padding(toLength: 28, withPad: " ", startingAt: 0)
            print(name + String(format: " %11.3f %13.3f", forward[index] * 1000 / Double(repeats), backward[index] * 1000 / Double(repeats)))
        }
        // the rest of a training step: loss, zeroing the gradients, the optimiser's update
        let optimizer = SGD(parameters: model.namedParameters, learningRate: 0.001, momentum: 0.9)
        func milliseconds(_ body: () -> Void) -> Double {
            for _ in 0..<2 { body() }
            let start = now()
            for _ in 0..<repeats { body() }
            return (now() - start) * 1000 / Double(repeats)
        }
        let others = [
            ("loss", milliseconds {
                _ = CrossEntropy().compute(logits: activations[layers.count], labels: labels, reduction: .mean,
                                           gradient: dLogits, perExample: nil)
            }),
            ("zero gradients", milliseconds { optimizer.zeroGradients() }),
            ("SGD step", milliseconds { optimizer.step() }),
        ]
        for (name, time) in others {
            print(name.padding(toLength: 28, withPad: " ", startingAt: 0) + String(format: " %11.3f", time))
        }
        let total = (forward.reduce(0, +) + backward.reduce(0, +)) * 1000 / Double(repeats) + others.map(\.1).reduce(0, +)
        print(String(format: "total %.3f ms per step", total))
    }
}
