import Foundation
import Yams

/// A node of a composed YAML (or JSON) manifest together with the key path that leads to it, so that
/// every error names its key and line. Yams reports positions only for syntax errors; these readers
/// take them from the composed nodes' marks instead.
public struct ManifestNode {
    let node: Node
    public let path: String
    let source: String

    public var line: Int? { node.mark?.line }

    public func error(_ message: String) -> ManifestError {
        ManifestError(source: source, path: path, line: line, message: message)
    }

    /// How the value was written, for error messages: `"0.3x"`, `[1, 2]`, `a mapping`.
    var shown: String {
        switch node {
        case let .scalar(scalar): return "\"\(scalar.string)\""
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        case .alias: return "an alias"
        }
    }

    /// Parses a whole document.
    public static func document(yaml: String, source: String) throws -> ManifestNode {
        do {
            guard let root = try Yams.compose(yaml: yaml) else {
                throw ManifestError(source: source, path: "", line: nil, message: "the manifest is empty")
            }
            return ManifestNode(node: root, path: "", source: source)
        } catch let error as ManifestError {
            throw error
        } catch let error as YamlError {
            throw ManifestError(source: source, path: "", line: nil, message: "not valid YAML or JSON: \(error)")
        }
    }

    /// The node as a mapping whose keys must all be in `allowed`; unknown keys are errors, so a typo is
    /// never silently ignored.
    public func mapping(allowed: [String]) throws -> ManifestMapping {
        guard case let .mapping(mapping) = node else { throw error("expected a mapping with keys \(allowed.joined(separator: ", ")), got \(shown)") }
        var entries: [String: ManifestNode] = [:], order: [String] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw error("keys must be strings") }
            let child = ManifestNode(node: value, path: path.isEmpty ? key : "\(path).\(key)", source: source)
            guard allowed.contains(key) else {
                let hint = Self.closest(to: key, among: allowed).map { "; did you mean \($0)?" } ?? ""
                throw ManifestError(source: source, path: child.path, line: keyNode.mark?.line ?? line,
                                    message: "unknown key; expected one of \(allowed.joined(separator: ", "))\(hint)")
            }
            guard entries[key] == nil else { throw child.error("key appears twice") }
            entries[key] = child
            order.append(key)
        }
        return ManifestMapping(owner: self, entries: entries, keys: order)
    }

    /// The value of `key` when the node is a mapping that has it, without checking the other keys.
    public func value(at key: String) -> ManifestNode? {
        guard case let .mapping(mapping) = node else { return nil }
        guard let value = mapping.first(where: { $0.key.string == key })?.value else { return nil }
        return ManifestNode(node: value, path: path.isEmpty ? key : "\(path).\(key)", source: source)
    }

    public func string(oneOf choices: [String]? = nil) throws -> String {
        guard case let .scalar(scalar) = node else { throw error("expected a string, got \(shown)") }
        if let choices, !choices.contains(scalar.string) {
            let hint = Self.closest(to: scalar.string, among: choices).map { "; did you mean \($0)?" } ?? ""
            throw error("expected one of \(choices.joined(separator: ", ")), got \(shown)\(hint)")
        }
        return scalar.string
    }

    /// A number within `range`; `lowerIsOpen` excludes the lower bound, as in (0, 1].
    public func float(in range: ClosedRange<Double>, lowerIsOpen: Bool = false) throws -> Float {
        let bounds = "\(lowerIsOpen ? "(" : "[")\(format(range.lowerBound)), \(format(range.upperBound))]"
        guard let value = node.float, value.isFinite, value <= range.upperBound,
              lowerIsOpen ? value > range.lowerBound : value >= range.lowerBound
        else { throw error("expected a number in \(bounds), got \(shown)") }
        return Float(value)
    }

    public func int(in range: ClosedRange<Int>) throws -> Int {
        guard let value = node.int, range.contains(value) else {
            throw error("expected an integer in [\(range.lowerBound), \(range.upperBound)], got \(shown)")
        }
        return value
    }

    public func bool() throws -> Bool {
        guard let value = node.bool else { throw error("expected true or false, got \(shown)") }
        return value
    }

    /// The elements of a list, each with its index in the path: `attacks[2]`.
    public func list() throws -> [ManifestNode] {
        guard case let .sequence(sequence) = node else { throw error("expected a list, got \(shown)") }
        return sequence.enumerated().map { ManifestNode(node: $1, path: "\(path)[\($0)]", source: source) }
    }

    private func format(_ value: Double) -> String {
        value == .infinity ? "∞" : String(format: "%g", value)
    }

    /// The allowed key within edit distance 2 of `key`, or one that `key` extends or abbreviates
    /// (`training` → `train`), if any.
    static func closest(to key: String, among allowed: [String]) -> String? {
        if let near = allowed.map({ ($0, editDistance(key, $0)) }).filter({ $0.1 <= 2 }).min(by: { $0.1 < $1.1 })?.0 {
            return near
        }
        return allowed.first { $0.count >= 3 && (key.hasPrefix($0) || $0.hasPrefix(key)) }
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// The entries of a manifest mapping by key.
public struct ManifestMapping {
    let owner: ManifestNode
    let entries: [String: ManifestNode]
    /// The keys in the order the manifest writes them.
    public let keys: [String]

    public subscript(key: String) -> ManifestNode? { entries[key] }

    public func required(_ key: String) throws -> ManifestNode {
        guard let value = entries[key] else {
            let path = owner.path.isEmpty ? key : "\(owner.path).\(key)"
            throw ManifestError(source: owner.source, path: path, line: owner.line, message: "missing (required)")
        }
        return value
    }
}
