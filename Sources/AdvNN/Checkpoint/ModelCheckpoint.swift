import Foundation

/// A model's weights as a safetensors file that PyTorch can load: parameters and BatchNorm buffers
/// under their `nn.Sequential` names (`0.weight` as [out, in] for Linear, [out, in, kh, kw] for Conv2d,
/// `running_mean`/`running_var`), and the architecture as JSON in `__metadata__["model"]`.
public enum ModelCheckpoint {
    public static let modelKey = "model"

    /// Every tensor of the model's state, by name: parameters, then buffers.
    public static func stateTensors(of model: any Layer) -> [(name: String, tensor: Tensor)] {
        model.namedParameters.map { ($0.name, $0.parameter.value) } + model.namedBuffers
    }

    /// The model's state plus its specification, ready to be written or extended.
    public static func contents(of model: any Layer, spec: ModelSpec) -> SafeTensors {
        var file = SafeTensors()
        for (name, tensor) in stateTensors(of: model) { file.tensors[name] = tensor }
        file.metadata[modelKey] = JSONCoding.encode(spec)
        file.metadata["format"] = "pytorch"   // what transformers and safetensors tools look for
        return file
    }

    /// Writes the model atomically to `path`.
    public static func save(_ model: any Layer, spec: ModelSpec, to path: String) throws {
        try contents(of: model, spec: spec).write(to: path)
    }

    /// Reads a model file and rebuilds the model it describes.
    /// - Throws: `CheckpointError` for an unreadable file, a missing or invalid architecture, or tensors
    ///   whose names or shapes do not match it.
    public static func load(from path: String) throws -> (model: Sequential, spec: ModelSpec) {
        let file = try SafeTensors.read(from: path)
        let spec = try spec(in: file, source: path)
        // the initial values are irrelevant: restore(_:from:) overwrites every tensor
        var rng = RandomStream(seed: 0, purpose: "checkpoint.rebuild")
        let model: Sequential
        do { model = try spec.build(rng: &rng) } catch {
            throw CheckpointError("\(path): \(error)")
        }
        try restore(model, from: file, source: path)
        return (model, spec)
    }

    /// The names of the tensors of the model's last layer with parameters: its classification head.
    public static func headTensorNames(of model: Sequential) -> Set<String> {
        guard let index = model.layers.lastIndex(where: { !$0.namedParameters.isEmpty }) else { return [] }
        return Set(stateTensors(of: model).map(\.name).filter { $0.hasPrefix("\(index).") })
    }

    /// The model specification stored in a file's metadata.
    public static func spec(in file: SafeTensors, source: String) throws -> ModelSpec {
        guard let json = file.metadata[modelKey] else {
            throw CheckpointError("\(source): no \"\(modelKey)\" entry in __metadata__; not an advd model file")
        }
        do { return try JSONCoding.decode(ModelSpec.self, from: json) } catch {
            throw CheckpointError("\(source): __metadata__.\(modelKey) is not a valid model specification: \(error)")
        }
    }

    /// Copies the file's tensors into the model's own tensors (parameters keep their identity, so an
    /// optimizer built on them stays attached).
    /// - Parameter prefix: a name prefix the file uses for the model's tensors.
    /// - Throws: `CheckpointError` naming each missing, unexpected or mis-shaped tensor.
    public static func restore(_ model: any Layer, from file: SafeTensors, source: String, prefix: String = "",
                               allowOtherTensors: Bool = false, skipping skipped: Set<String> = []) throws {
        var problems: [String] = []
        let expected = stateTensors(of: model).filter { !skipped.contains($0.name) }
        for (name, tensor) in expected {
            guard let stored = file.tensors[prefix + name] else {
                problems.append("missing tensor \(prefix + name) \(tensor.shape)")
                continue
            }
            guard stored.shape == tensor.shape else {
                problems.append("tensor \(prefix + name) has shape \(stored.shape), expected \(tensor.shape)")
                continue
            }
            tensor.data.update(from: stored.data, count: tensor.count)
        }
        if !allowOtherTensors {
            let known = Set(expected.map { prefix + $0.name }).union(skipped.map { prefix + $0 })
            for name in file.tensors.keys.sorted() where name.hasPrefix(prefix) && !known.contains(name) {
                problems.append("unexpected tensor \(name)")
            }
        }
        guard problems.isEmpty else {
            // the first few name the mismatch; a file of another architecture would list every tensor
            let shown = problems.prefix(4).joined(separator: "; ")
            throw CheckpointError("\(source): " + shown + (problems.count > 4 ? "; and \(problems.count - 4) more" : ""))
        }
    }
}
