import Foundation

/// The control protocol between `advctl` and `advd serve`: one JSON object per line over a Unix
/// stream socket. A client writes a `Request` line; the daemon answers with one `Response` line.
/// Both carry `version`; the daemon answers a request of another major version with an error.
public enum Wire {
    /// The protocol version this build speaks.
    /// 2: requests and responses are enums with a payload per command (1 was one flat structure).
    public static let version = 3
    /// The longest request line the daemon reads (a manifest travels inside a submit request).
    public static let maximumRequestBytes = 1 << 20
    /// The socket path when neither `--socket` nor `ADVD_SOCKET` says otherwise.
    public static let defaultSocketPath = "/run/advd/advd.sock"

    /// A value as one line of JSON, newline included.
    /// - Throws: `EncodingError` (a non-finite number, say): a message is never sent half-made.
    public static func encodeLine<Value: Encodable>(_ value: Value) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.nonConformingFloatEncodingStrategy = nonFiniteNumbers.encoding
        var data = try encoder.encode(value)
        data.append(0x0A)
        return data
    }

    /// Decodes one line (without its newline).
    public static func decode<Value: Decodable>(_ type: Value.Type, from line: Data) throws -> Value {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        decoder.nonConformingFloatDecodingStrategy = nonFiniteNumbers.decoding
        return try decoder.decode(type, from: line)
    }

    /// A decoding error in a few words: the field and what is wrong with it.
    public static func describe(_ error: Error) -> String {
        /// `arguments[0].manifest`: keys joined by dots, list positions in brackets.
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.reduce(into: "") { text, key in
                if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
            }
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            let parent = path(context)
            return "missing field \(parent.isEmpty ? "" : parent + ".")\(key.stringValue)"
        case DecodingError.typeMismatch(let type, let context): return "wrong type at \(path(context)) (expected \(type))"
        case DecodingError.valueNotFound(_, let context): return "missing value at \(path(context))"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not JSON" : "invalid value at \(path(context)): \(context.debugDescription)"
        default: return "\(error)"
        }
    }

    /// A diverging loss is NaN or infinite, which JSON cannot write as a number: such values travel as
    /// the strings "nan", "inf" and "-inf" instead of failing the message.
    private static let nonFiniteNumbers = (
        encoding: JSONEncoder.NonConformingFloatEncodingStrategy.convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan"),
        decoding: JSONDecoder.NonConformingFloatDecodingStrategy.convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan"))
}
