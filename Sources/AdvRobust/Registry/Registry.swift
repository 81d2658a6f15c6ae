/// A registry: the table of every entry of one kind of experiment part (attacks, defenses, training
/// methods, …), and the only place their names are known. Manifest decoding, the "did you mean"
/// suggestions, the keys that do not apply to an entry, the generated tables of `docs/manifest.md`
/// and the contract tests all read it; a name that is not in the table cannot reach a constructor.
///
/// Adding a part is one file that declares its `RegistryEntry` next to its type, and one line in the
/// registry's `standard` table. A registry is a value: a test (or a plug-in) can add entries to a copy
/// and pass that copy to `ExperimentManifest.parse` and `ExperimentRunner`.
public struct Registry<Part, Context>: Sendable {
    /// What one entry is called in messages and documentation: "attack", "defense".
    public let kind: String
    public private(set) var entries: [RegistryEntry<Part, Context>]
    /// Checks that hold for every entry of the kind (keys shared by all attacks, say).
    let sharedCheck: @Sendable (DecodedPart<Context>) throws -> Void

    public init(kind: String, entries: [RegistryEntry<Part, Context>],
                sharedCheck: @escaping @Sendable (DecodedPart<Context>) throws -> Void = { _ in }) {
        self.kind = kind
        self.entries = []
        self.sharedCheck = sharedCheck
        for entry in entries { add(entry) }
    }

    /// The registry with `entry` added at the end.
    public func adding(_ entry: RegistryEntry<Part, Context>) -> Registry {
        var copy = self
        copy.add(entry)
        return copy
    }

    private mutating func add(_ entry: RegistryEntry<Part, Context>) {
        precondition(self.entry(named: entry.name) == nil, "two \(kind) entries are named \(entry.name)")
        precondition(!entry.keys.contains { $0.name == "name" }, "\(entry.name): `name` is the entry's own key")
        entries.append(entry)
    }

    public var names: [String] { entries.map(\.name) }

    public func entry(named name: String) -> RegistryEntry<Part, Context>? {
        entries.first { $0.name == name }
    }

    /// Every key some entry declares, in the order entries declare them.
    var allKeyNames: [String] {
        var seen: [String] = []
        for key in entries.flatMap(\.keys) where !seen.contains(key.name) { seen.append(key.name) }
        return seen
    }

    // MARK: Decoding

    /// Decodes a part from its mapping (`{name: pgd, steps: 40}`): the name must be an entry's, every
    /// key must be one of that entry's, every value is checked against its key, defaults fill the rest.
    /// - Throws: `ManifestError` naming the key path and line: an unknown name or key (with the closest
    ///   one), a key that belongs to other entries (saying which), a bad value, a failed check.
    public func decode(_ node: ManifestNode, context: Context) throws -> PartSpec {
        if case .scalar = node.node {
            // a name alone: the entry with every key at its default
            let entry = self.entry(named: try node.string(oneOf: names))!
            if let required = entry.keys.first(where: { if case .required = $0.defaultValue { true } else { false } }) {
                throw node.error("the \(entry.name) \(kind) needs \(required.name): write {name: \(entry.name), \(required.name): …}")
            }
            return try decode(defaultOf: entry, context: context)
        }
        // an unknown name is the first thing to say: its keys are unknown because of it
        _ = try node.value(at: "name")?.string(oneOf: names)
        let map = try node.mapping(allowed: ["name"] + allKeyNames)
        let name = try map.required("name").string(oneOf: names)
        return try decode(entry(named: name)!, from: map, node: node, context: context)
    }

    /// Decodes the named entry's part from a mapping that holds its keys (and possibly others the
    /// caller has already read, listed in `ignoring`).
    func decode(_ entry: RegistryEntry<Part, Context>, from map: ManifestMapping, node: ManifestNode, context: Context,
                ignoring: [String] = ["name"]) throws -> PartSpec {
        for key in map.keys where !ignoring.contains(key) && !entry.keys.contains(where: { $0.name == key }) {
            let owners = entries.filter { $0.keys.contains { $0.name == key } }.map(\.name)
            let reason = entry.notes[key] ?? "\(key) applies to \(Self.list(owners)), not \(entry.name)"
            throw map[key]!.error(reason)
        }
        var values: [String: ParameterValue] = [:], nodes: [String: ManifestNode] = [:]
        nodes["name"] = map["name"]
        for key in entry.keys {
            if let given = map[key.name] {
                values[key.name] = try key.read(given, context: context)
                nodes[key.name] = given
                continue
            }
            switch key.defaultValue {
            case .required: _ = try map.required(key.name)
            case .absent: break
            case let .value(value): values[key.name] = value
            case let .derived(_, compute): values[key.name] = compute(context, PartSpec(name: entry.name, values: values))
            }
        }
        let decoded = DecodedPart(spec: PartSpec(name: entry.name, values: values), context: context, node: node, nodes: nodes)
        try sharedCheck(decoded)
        try entry.check(decoded)
        return decoded.spec
    }

    /// The part of `entry` with every key at its default, for a manifest that does not mention the
    /// part's keys at all.
    /// - Throws: `ManifestError` when the entry has a required key.
    func decode(defaultOf entry: RegistryEntry<Part, Context>, context: Context) throws -> PartSpec {
        let empty = try ManifestNode.document(yaml: "{}", source: kind).mapping(allowed: [])
        return try decode(entry, from: empty, node: empty.owner, context: context, ignoring: [])
    }

    // MARK: Building

    /// Builds the part a decoded spec describes.
    /// - Throws: `RegistryError` when the spec names no entry of this registry (a spec from another
    ///   build's `metrics.json`, say), or what the entry's constructor throws.
    public func make(_ spec: PartSpec, context: Context) throws -> Part {
        guard let entry = entry(named: spec.name) else {
            throw RegistryError("no \(kind) is named \"\(spec.name)\"; this advd knows \(Self.list(names))")
        }
        return try entry.make(spec, context)
    }

    static func list(_ names: [String]) -> String {
        names.count <= 1 ? names.joined() : names.dropLast().joined(separator: ", ") + " and " + names.last!
    }
}

/// One entry of a registry: a name, what it is, its keys, and how to check and build it.
public struct RegistryEntry<Part, Context>: Sendable {
    public let name: String
    /// One line: what it is and where it comes from (it goes into the generated documentation).
    public let summary: String
    public let keys: [ParameterKey<Context>]
    /// Why a key that other entries take does not apply here, where a better word than the generic
    /// "applies to …, not …" exists.
    public let notes: [String: String]
    /// Checks across this entry's keys, beyond each key's own type and range.
    let check: @Sendable (DecodedPart<Context>) throws -> Void
    let make: @Sendable (PartSpec, Context) throws -> Part

    public init(name: String, summary: String, keys: [ParameterKey<Context>], notes: [String: String] = [:],
                check: @escaping @Sendable (DecodedPart<Context>) throws -> Void = { _ in },
                make: @escaping @Sendable (PartSpec, Context) throws -> Part) {
        self.name = name
        self.summary = summary
        self.keys = keys
        self.notes = notes
        self.check = check
        self.make = make
    }
}

/// A part that cannot be built from its specification.
public struct RegistryError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
