import AdvNN
/// The tables of `docs/manifest.md` that describe registry entries (datasets, architectures, optimisers,
/// schedules, training methods, defenses, detectors, attacks) and each architecture's PyTorch key
/// layout, generated from the registries and the architectures so
/// they cannot drift from what the decoder accepts. The file marks each generated block:
///
///     <!-- BEGIN GENERATED attacks: `advd manifest-docs` rewrites this block -->
///     …
///     <!-- END GENERATED attacks -->
///
/// and `advd manifest-docs docs/manifest.md` rewrites every block in place; a test fails when the
/// committed file differs from what the registries generate.
public enum ManifestDocumentation {
    /// The generated blocks by name, in the order the file holds them.
    public static func blocks(_ registries: Registries = .standard) -> [(name: String, text: String)] {
        [("datasets", table(registries.datasets, keysCalled: "keys")),
         ("architectures", table(registries.architectures, keysCalled: "keys")),
         ("optimizers", table(registries.optimizers, keysCalled: "keys")),
         ("schedules", table(registries.schedules, keysCalled: "keys")),
         ("training-methods", table(registries.trainingMethods, keysCalled: "`train.attack` keys")),
         ("defenses", table(registries.defenses, keysCalled: "keys")),
         ("detectors", table(registries.detectors, keysCalled: "keys")),
         ("attacks", table(registries.attacks, keysCalled: "keys")),
         ("pytorch-layouts", pytorchLayouts())]
    }

    /// Each architecture's tensors as PyTorch's `state_dict` names them, with their shapes, for a typical
    /// input: what a file saved from PyTorch must hold for a manifest that names the architecture.
    static func pytorchLayouts() -> String {
        let examples = [ModelSpec(architecture: "linear", inputShape: [1, 28, 28], classes: 10),
                        ModelSpec(architecture: "mlp", inputShape: [1, 28, 28], classes: 10, hidden: [256, 256]),
                        ModelSpec(architecture: "cnn-small", inputShape: [1, 28, 28], classes: 10),
                        ModelSpec(architecture: "lenet", inputShape: [1, 28, 28], classes: 10),
                        ModelSpec(architecture: "preact-resnet", inputShape: [3, 32, 32], classes: 10)]
        var lines: [String] = []
        for spec in examples {
            var rng = RandomStream(seed: 0, purpose: "documentation")
            guard let model = try? spec.build(rng: &rng) else { continue }
            let layers = model.layers.enumerated().map { "\($0.offset): \(type(of: $0.element))" }.joined(separator: ", ")
            lines += ["", "`\(spec.summary)` — layers \(layers):", "", "| key | shape |", "|---|---|"]
            for (name, tensor) in ModelCheckpoint.stateTensors(of: model) {
                lines.append("| `\(name)` | \(tensor.shape.dimensions) |")
            }
        }
        return lines.dropFirst().joined(separator: "\n")
    }

    /// `text` with every generated block replaced by what the registries generate now.
    /// - Throws: `RegistryError` when a block's markers are missing or out of order.
    public static func updated(_ text: String, registries: Registries = .standard) throws -> String {
        var result = text
        for (name, body) in blocks(registries) {
            let begin = "<!-- BEGIN GENERATED \(name): `advd manifest-docs` rewrites this block -->"
            let end = "<!-- END GENERATED \(name) -->"
            guard let start = result.range(of: begin), let stop = result.range(of: end, range: start.upperBound..<result.endIndex) else {
                throw RegistryError("the documentation has no block \"\(name)\": add the lines \(begin) and \(end) where it belongs")
            }
            result.replaceSubrange(start.upperBound..<stop.lowerBound, with: "\n" + body + "\n")
        }
        return result
    }

    /// A registry as markdown: one row per entry, then each entry's keys.
    static func table<Part, Context>(_ registry: Registry<Part, Context>, keysCalled: String) -> String {
        var lines = ["| `name` | what it is | \(keysCalled) |", "|---|---|---|"]
        for entry in registry.entries {
            let keys = entry.keys.isEmpty ? "none" : entry.keys.map { "`\($0.name)`" }.joined(separator: ", ")
            lines.append("| `\(entry.name)` | \(cell(entry.summary)) | \(keys) |")
        }
        for entry in registry.entries where !entry.keys.isEmpty {
            lines += ["", "`\(entry.name)`:", "", "| key | type | default | meaning |", "|---|---|---|---|"]
            for key in entry.keys {
                lines.append("| `\(key.name)` | \(cell(key.kindText)) | \(cell(key.defaultText)) | \(cell(meaning(of: key))) |")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// A key's doc line, with what each choice means.
    private static func meaning<Context>(of key: ParameterKey<Context>) -> String {
        guard case let .choice(choices) = key.kind else { return key.doc }
        return key.doc + ": " + choices.map { "`\($0.name)` \($0.summary)" }.joined(separator: "; ")
    }

    /// Text safe inside a table cell.
    private static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}
