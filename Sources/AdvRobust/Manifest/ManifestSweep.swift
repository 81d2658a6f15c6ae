import Foundation
import Yams

/// A sweep expanded: the keys it varies, and one experiment per point of its grid.
public struct ManifestSweepExpansion: Sendable, Equatable {
    /// The manifest's name: the sweep's jobs are named after it and their values.
    public var name: String
    /// The grid's key paths in the sweep's order, then `seed` when the sweep lists seeds.
    public var keys: [String]
    public var points: [SweepPoint]
}

/// One experiment of a sweep: its manifest (the base with the point's values set and no `sweep`
/// block) and its values, in the order of the expansion's keys.
public struct SweepPoint: Sendable, Equatable {
    public var name: String
    public var manifest: String
    public var values: [String]
}

/// A manifest's `sweep:` block — a grid over key paths and a list of seeds — expanded into one
/// manifest per point:
///
///     sweep:
///       grid:
///         train.method: [standard, pgd-at, trades]
///         threat_model.epsilon: [0.05, 0.1]
///       seeds: [1, 2]
///
/// gives 3 × 2 × 2 = 12 experiments, seeds varying fastest. Each point is checked as a manifest of
/// its own when it is submitted, and an error names the point.
public enum ManifestSweep {
    /// The most points one sweep may expand to.
    public static let maximumPoints = 100

    /// The points of the manifest's sweep, or nil when it has no `sweep` block.
    /// - Throws: `ManifestError` naming `sweep…` and the line for a malformed block.
    public static func expand(yaml: String, source: String) throws -> ManifestSweepExpansion? {
        let document = try ManifestNode.document(yaml: yaml, source: source)
        guard case .mapping(let root) = document.node, let sweepKey = root.keys.first(where: { $0.string == "sweep" }),
              let sweepNode = root[sweepKey] else { return nil }
        let sweep = try ManifestNode(node: sweepNode, path: "sweep", source: source).mapping(allowed: ["grid", "seeds"])
        var axes: [(key: String, values: [Node])] = []
        if let grid = sweep["grid"] {
            guard case .mapping(let mapping) = grid.node, !mapping.isEmpty else { throw grid.error("expected a mapping of key paths to lists of values") }
            for (keyNode, valuesNode) in mapping {
                guard let key = keyNode.string, Self.isKeyPath(key) else {
                    throw grid.error("\(keyNode.string.map { "\"\($0)\"" } ?? "a key"): expected a key path such as train.method")
                }
                let values = ManifestNode(node: valuesNode, path: "sweep.grid.\(key)", source: source)
                guard case .sequence(let sequence) = valuesNode, !sequence.isEmpty else { throw values.error("expected a non-empty list of values") }
                guard !["sweep", "seed", "name"].contains(key) else {
                    throw values.error(key == "seed" ? "list seeds under sweep.seeds" : "\(key) cannot be swept")
                }
                axes.append((key, Array(sequence)))
            }
        }
        var seeds: [Int] = []
        if let node = sweep["seeds"] {
            seeds = try node.list().map { try $0.int(in: 0...Int.max) }
            guard !seeds.isEmpty else { throw node.error("expected a non-empty list of seeds") }
            guard Set(seeds).count == seeds.count else { throw node.error("a seed appears twice") }
        }
        guard !axes.isEmpty || !seeds.isEmpty else { throw document.error("sweep: give a grid, seeds, or both") }
        let count = axes.reduce(max(seeds.count, 1)) { $0 * $1.values.count }
        guard count <= maximumPoints else {
            throw ManifestError(source: source, path: "sweep", line: sweepNode.mark?.line,
                                message: "expands to \(count) experiments; at most \(maximumPoints) per sweep")
        }

        let base = Node.Mapping(root.filter { $0.key.string != "sweep" })
        let baseName = root.first { $0.key.string == "name" }?.value.string ?? (source as NSString).deletingPathExtension
        var points: [SweepPoint] = []
        for index in 0..<count {
            var remainder = index
            var mapping = base
            var values: [String] = []
            var seedValue: String?
            if !seeds.isEmpty {
                let seed = seeds[remainder % seeds.count]
                remainder /= seeds.count
                mapping = setting(Node(String(seed)), at: ["seed"], in: mapping)!
                seedValue = String(seed)
            }
            var picked: [(String, Node)] = []
            for axis in axes.reversed() {
                picked.insert((axis.key, axis.values[remainder % axis.values.count]), at: 0)
                remainder /= axis.values.count
            }
            for (key, value) in picked {
                let path = key.split(separator: ".").map(String.init)
                guard let updated = setting(value, at: path, in: mapping) else {
                    throw ManifestError(source: source, path: "sweep.grid.\(key)", line: sweepNode.mark?.line,
                                        message: "\(key) goes through a value that is not a mapping in the manifest")
                }
                mapping = updated
                values.append(shown(value))
            }
            let name = pointName(base: baseName, values: values, seed: seedValue)
            if let seedValue { values.append(seedValue) }
            mapping = setting(Node(name), at: ["name"], in: mapping)!
            let text = try Yams.serialize(node: .mapping(mapping))
            points.append(SweepPoint(name: name, manifest: text, values: values))
        }
        return ManifestSweepExpansion(name: baseName, keys: axes.map(\.key) + (seeds.isEmpty ? [] : ["seed"]), points: points)
    }

    /// `a.b_c.d`: keys of letters, digits and `_`, joined by dots.
    static func isKeyPath(_ text: String) -> Bool {
        text.range(of: #"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"#, options: .regularExpression) != nil
    }

    /// How a value reads in a name and a table: a scalar as written, anything else as flow YAML.
    static func shown(_ node: Node) -> String {
        if let scalar = node.scalar { return scalar.string }
        return ((try? Yams.serialize(node: node)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "\n", with: " ")
    }

    /// `fashion-pgd-at-0.1-seed2`: the base name and the point's values, kept to what a name may hold.
    static func pointName(base: String, values: [String], seed: String?) -> String {
        let parts = [base] + values + (seed.map { ["seed\($0)"] } ?? [])
        let joined = parts.joined(separator: "-")
        let cleaned = String(joined.map { ($0.isASCII && ($0.isLetter || $0.isNumber)) || "-_.".contains($0) ? $0 : "_" })
        return String(cleaned.prefix(100))
    }

    /// `mapping` with `value` at `path`, creating mappings on the way; nil when the path goes through a
    /// value that is not a mapping (never for a top-level key).
    private static func setting(_ value: Node, at path: [String], in mapping: Node.Mapping) -> Node.Mapping? {
        guard let key = path.first else { return mapping }
        var pairs = mapping.map { ($0.key, $0.value) }
        let index = pairs.firstIndex { $0.0.string == key }
        let replacement: Node
        if path.count == 1 {
            replacement = value
        } else {
            let child: Node.Mapping
            switch index.map({ pairs[$0].1 }) {
            case .none: child = Node.Mapping([])
            case .some(.mapping(let existing)): child = existing
            case .some: return nil
            }
            guard let updated = setting(value, at: Array(path.dropFirst()), in: child) else { return nil }
            replacement = .mapping(updated)
        }
        if let index { pairs[index].1 = replacement } else { pairs.append((Node(key), replacement)) }
        return Node.Mapping(pairs)
    }
}
