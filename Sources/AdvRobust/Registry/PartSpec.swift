/// An experiment part as decoded from a manifest: the registry name of what to build and the value of
/// every key its entry declares, defaults filled in (keys without a default and not given are left
/// out). `metrics.json` echoes it flat, as the user would write it: `{"name": "pgd", "steps": 20, …}`.
///
/// The accessors are for an entry's constructor, which reads only the keys it declared: asking for an
/// undeclared key, or for a value of another type, is a programming error and stops with both named.
public struct PartSpec: Codable, Sendable, Equatable {
    public var name: String
    public var values: [String: ParameterValue]

    public init(name: String, values: [String: ParameterValue] = [:]) {
        self.name = name
        self.values = values
    }

    public func int(_ key: String) -> Int {
        guard case let .integer(value) = required(key) else { preconditionFailure("\(name).\(key) is not an integer: \(required(key))") }
        return value
    }

    public func optionalInt(_ key: String) -> Int? {
        values[key].map { _ in int(key) }
    }

    public func float(_ key: String) -> Float {
        guard let value = required(key).number else { preconditionFailure("\(name).\(key) is not a number: \(required(key))") }
        return value
    }

    public func optionalFloat(_ key: String) -> Float? {
        values[key].map { _ in float(key) }
    }

    public func bool(_ key: String) -> Bool {
        guard case let .flag(value) = required(key) else { preconditionFailure("\(name).\(key) is not a flag: \(required(key))") }
        return value
    }

    public func string(_ key: String) -> String {
        guard case let .text(value) = required(key) else { preconditionFailure("\(name).\(key) is not a string: \(required(key))") }
        return value
    }

    public func optionalString(_ key: String) -> String? {
        values[key].map { _ in string(key) }
    }

    public func ints(_ key: String) -> [Int] {
        guard case let .integers(value) = required(key) else { preconditionFailure("\(name).\(key) is not a list of integers: \(required(key))") }
        return value
    }

    public func optionalInts(_ key: String) -> [Int]? {
        values[key].map { _ in ints(key) }
    }

    private func required(_ key: String) -> ParameterValue {
        guard let value = values[key] else { preconditionFailure("\(name) has no value for \(key): is it declared with a default?") }
        return value
    }

    // MARK: Codable, flat

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        name = try container.decode(String.self, forKey: Key(stringValue: "name"))
        values = [:]
        for key in container.allKeys where key.stringValue != "name" {
            values[key.stringValue] = try container.decode(ParameterValue.self, forKey: key)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(name, forKey: Key(stringValue: "name"))
        for (key, value) in values { try container.encode(value, forKey: Key(stringValue: key)) }
    }
}

/// A part while it is being decoded: its values with the nodes they came from, so that a check across
/// keys (a `target` without `goal: target`) can name the key and line at fault.
public struct DecodedPart<Context> {
    public let spec: PartSpec
    public let context: Context
    /// The part's own mapping node (for errors about the part as a whole).
    public let node: ManifestNode
    let nodes: [String: ManifestNode]

    /// The value of `key` (given or default), nil when it has none.
    public subscript(key: String) -> ParameterValue? { spec.values[key] }

    /// Whether the manifest wrote `key` (rather than leaving it to its default).
    public func isGiven(_ key: String) -> Bool { nodes[key] != nil }

    /// An error at `key`'s node when the manifest wrote it, else at the part's.
    public func error(at key: String, _ message: String) -> ManifestError {
        (nodes[key] ?? node).error(message)
    }
}
