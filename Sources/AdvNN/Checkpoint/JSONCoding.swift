import Foundation

/// JSON as checkpoints, state files and metrics store it: sorted keys, so equal values give equal
/// bytes, and NaN and infinities written as strings, since a diverged run's loss must still be recordable.
public enum JSONCoding {
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }

    /// JSON text for a value; encoding plain Codable value types with these strategies cannot fail.
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) -> String {
        do {
            return String(decoding: try encoder(pretty: pretty).encode(value), as: UTF8.self)
        } catch {
            preconditionFailure("cannot encode \(T.self) as JSON: \(error)")
        }
    }

    /// Decodes JSON text written by `encode`.
    public static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try decoder().decode(type, from: Data(text.utf8))
    }
}
