/// One key an experiment part takes: its name in the manifest, its type and range, its default and a
/// line of documentation. Decoding, error messages and the generated tables of `docs/manifest.md` all
/// read these, so a key is described once.
public struct ParameterKey<Context>: Sendable {
    /// What values a key takes.
    public enum Kind: Sendable {
        case integer(ClosedRange<Int>)
        /// A number in the range; `lowerIsOpen` excludes the lower bound, as in (0, 1].
        case number(ClosedRange<Double>, lowerIsOpen: Bool)
        case flag
        /// One of these names.
        case choice([Choice])
        case text
        /// A list of integers, each in the range.
        case integers(ClosedRange<Int>)
    }

    /// The value a key takes when the manifest leaves it out.
    public enum Default: Sendable {
        /// The manifest must give it.
        case required
        /// No value: the part does without (a `target` without a targeted goal).
        case absent
        case value(ParameterValue)
        /// Computed from the context (the threat model's ε, say) and the values of the keys declared
        /// before it (a step size from the part's own `epsilon`); the text documents it.
        case derived(String, @Sendable (Context, PartSpec) -> ParameterValue)
    }

    public let name: String
    public let kind: Kind
    public let defaultValue: Default
    public let doc: String
    /// A further condition on a value that also depends on the context (a class index below the
    /// class count): nil when it holds, else what is wrong.
    public let condition: (@Sendable (ParameterValue, Context) -> String?)?

    public init(_ name: String, _ kind: Kind, default defaultValue: Default, doc: String,
                condition: (@Sendable (ParameterValue, Context) -> String?)? = nil) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.doc = doc
        self.condition = condition
    }

    /// Reads the key's value from its node.
    /// - Throws: `ManifestError` naming the key path, the expected type and range, and what was written.
    func read(_ node: ManifestNode, context: Context) throws -> ParameterValue {
        let value: ParameterValue
        switch kind {
        case let .integer(range): value = .integer(try node.int(in: range))
        case let .number(range, lowerIsOpen): value = .number(try node.float(in: range, lowerIsOpen: lowerIsOpen))
        case .flag: value = .flag(try node.bool())
        case let .choice(choices): value = .text(try node.string(oneOf: choices.map(\.name)))
        case .text: value = .text(try node.string())
        case let .integers(range): value = .integers(try node.list().map { try $0.int(in: range) })
        }
        if let problem = condition?(value, context) { throw node.error(problem) }
        return value
    }

    /// The type as the documentation states it: `integer, 1–100000`, `` `ce`, `cw` ``.
    public var kindText: String {
        switch kind {
        case let .integer(range): return "integer, \(range.lowerBound)–\(range.upperBound)"
        case let .number(range, lowerIsOpen):
            let upper = range.upperBound >= 1e6 ? "∞)" : "\(Self.format(range.upperBound))]"
            return "number in \(lowerIsOpen ? "(" : "[")\(Self.format(range.lowerBound)), \(upper)"
        case .flag: return "`true` or `false`"
        case let .choice(choices): return choices.map { "`\($0.name)`" }.joined(separator: ", ")
        case .text: return "string"
        case let .integers(range): return "list of integers, \(range.lowerBound)–\(range.upperBound)"
        }
    }

    /// The default as the documentation states it.
    public var defaultText: String {
        switch defaultValue {
        case .required: return "required"
        case .absent: return "—"
        case let .value(value): return "`\(value)`"
        case let .derived(text, _): return text
        }
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
    }
}

/// One of the names a choice key takes, with what it means.
public struct Choice: Sendable, Equatable {
    public let name: String
    public let summary: String
    public init(_ name: String, _ summary: String) {
        self.name = name
        self.summary = summary
    }
}
