/// One value of a part's key, as the manifest gave it or its default filled it in. In JSON it is the
/// plain value (`20`, `0.5`, `true`, `"ce"`, `[1, 2]`), so `metrics.json` echoes a part as the user
/// would write it.
public enum ParameterValue: Codable, Sendable, CustomStringConvertible {
    case integer(Int)
    case number(Float)
    case flag(Bool)
    case text(String)
    case integers([Int])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let flag = try? container.decode(Bool.self) { self = .flag(flag) }
        else if let integer = try? container.decode(Int.self) { self = .integer(integer) }
        else if let number = try? container.decode(Float.self) { self = .number(number) }
        else if let integers = try? container.decode([Int].self) { self = .integers(integers) }
        else { self = .text(try container.decode(String.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case let .integer(value): try container.encode(value)
        case let .number(value): try container.encode(value)
        case let .flag(value): try container.encode(value)
        case let .text(value): try container.encode(value)
        case let .integers(value): try container.encode(value)
        }
    }

    /// The value as a number, whether written as an integer or not (JSON does not tell `1` from `1.0`).
    public var number: Float? {
        switch self {
        case let .number(value): return value
        case let .integer(value): return Float(value)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case let .integer(value): return "\(value)"
        case let .number(value): return value == value.rounded() && abs(value) < 1e9 ? String(Int(value)) : "\(value)"
        case let .flag(value): return "\(value)"
        case let .text(value): return value
        case let .integers(value): return "[" + value.map(String.init).joined(separator: ", ") + "]"
        }
    }
}

extension ParameterValue: Equatable {
    /// Numbers compare by value, so a part read back from JSON equals the part that was written.
    public static func == (lhs: ParameterValue, rhs: ParameterValue) -> Bool {
        switch (lhs, rhs) {
        case let (.flag(a), .flag(b)): return a == b
        case let (.text(a), .text(b)): return a == b
        case let (.integers(a), .integers(b)): return a == b
        case let (.integer(a), .integer(b)): return a == b
        default:
            guard let a = lhs.number, let b = rhs.number else { return false }
            return a == b
        }
    }
}
