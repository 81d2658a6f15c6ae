/// The names a choice key takes and the value each stands for: a registry in miniature, for choices
/// that are values rather than parts (an attack's loss or goal, a gradient estimation). Its `choices`
/// go into the key's declaration and the documentation; `value(for:)` is the only place a name becomes
/// a value.
public struct ChoiceTable<Value>: Sendable {
    public struct Row: Sendable {
        public let choice: Choice
        /// The value, from the part's other keys where it needs them (`cw` reads `confidence`).
        let make: @Sendable (PartSpec) -> Value
    }

    public let rows: [Row]

    public init(_ rows: [(String, String, @Sendable (PartSpec) -> Value)]) {
        self.rows = rows.map { Row(choice: Choice($0.0, $0.1), make: $0.2) }
    }

    public var choices: [Choice] { rows.map(\.choice) }

    /// The value `spec[key]` names. The key was checked against `choices` when the spec was decoded.
    public func value(for key: String, in spec: PartSpec) -> Value {
        let name = spec.string(key)
        guard let row = rows.first(where: { $0.choice.name == name }) else {
            preconditionFailure("\(spec.name).\(key) = \(name) passed decoding but is not in its table")
        }
        return row.make(spec)
    }
}
