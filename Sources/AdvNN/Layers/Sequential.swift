/// Layers applied one after another (PyTorch's `nn.Sequential`); a model is usually one of these.
/// Parameter names are prefixed with the layer's index, as PyTorch does: `0.weight`, `3.conv1.weight`.
public final class Sequential: Layer {
    public let layers: [any Layer]
    public var isTraining: Bool {
        didSet { for layer in layers { layer.isTraining = isTraining } }
    }
    public var compute = ComputeContext.serial {
        didSet { for layer in layers { layer.compute = compute } }
    }

    /// The first layer with parameters: no layer at or before it needs an input gradient in training.
    private let firstParametricIndex: Int
    /// `infer`'s output, and the replicas its threads compute on (see Sequential+Inference.swift).
    let inferenceOutput = Tensor(zeros: Shape(0))
    var inferenceReplicas: [Sequential] = []
    var inferenceChunks: [Tensor] = []   // one view per worker, repointed at each chunk
    /// A chunk's activations after its layers on image cells, back in NCHW (`inferChunk`).
    let inferenceCellImages = Tensor(zeros: Shape(0))
    /// Floats of all the parameters (the layers are fixed at init).
    let parameterFloats: Int

    public init(_ layers: [any Layer]) {
        self.layers = layers
        firstParametricIndex = layers.firstIndex { !$0.namedParameters.isEmpty } ?? layers.count
        parameterFloats = layers.reduce(0) { sum, layer in
            layer.namedParameters.reduce(sum) { $0 + $1.parameter.value.count }
        }
        isTraining = true
        for layer in layers { layer.isTraining = true }
        // a Linear followed by a ReLU applies it itself, block by block while its output is in cache
        for (first, second) in zip(layers, layers.dropFirst()) {
            guard let linear = first as? Linear, let relu = second as? ReLU else { continue }
            linear.rectifiesOutput = true
            relu.inputIsRectified = true
        }
    }

    public func replica() -> Sequential {
        let copy = Sequential(layers.map { $0.replica() })
        copy.isTraining = isTraining
        copy.compute = compute
        return copy
    }

    public func outputShape(for inputShape: Shape) -> Shape {
        layers.reduce(inputShape) { $1.outputShape(for: $0) }
    }

    public func forward(_ input: Tensor) -> Tensor {
        var activation = input
        for layer in layers { activation = layer.forward(activation) }
        return activation
    }

    /// A flat reverse loop mirroring `forward`. Input gradients are computed only where something needs
    /// them: everywhere when the caller wants the model's input gradient (attacks), else only above the
    /// first layer with parameters (training skips, e.g., the first Linear's dInput behind a Flatten).
    public func backward(_ dOutput: Tensor, request: GradientRequest) -> Tensor? {
        var gradient = dOutput
        for index in layers.indices.reversed() {
            // nil once the layers below need nothing: they hold no parameters
            guard let dInput = layers[index].backward(gradient, request: gradientRequest(forLayer: index, request)) else {
                return nil
            }
            gradient = dInput
        }
        return gradient
    }

    /// What `backward` asks of layer `index` when the model is asked for `request`: its input gradient
    /// only where the caller wants the model's or a layer below holds parameters.
    public func gradientRequest(forLayer index: Int, _ request: GradientRequest) -> GradientRequest {
        GradientRequest(input: request.input || index > firstParametricIndex, parameters: request.parameters)
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        layers.enumerated().flatMap { index, layer in
            layer.namedParameters.map { ("\(index).\($0.name)", $0.parameter) }
        }
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        layers.enumerated().flatMap { index, layer in
            layer.namedBuffers.map { ("\(index).\($0.name)", $0.tensor) }
        }
    }
}
