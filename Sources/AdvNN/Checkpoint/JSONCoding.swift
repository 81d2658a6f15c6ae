import Foundation

/// JSON as checkpoints and metrics files store it: sorted keys, so equal values give equal bytes, and
/// NaN and infinities written as strings, since a diverged run's loss must still be recordable.
enum JSONCoding {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }
}

/// JSON text for a value; encoding plain Codable value types with the strategies above cannot fail.
func encodeJSON<T: Encodable>(_ value: T) -> String {
    do {
        return String(decoding: try JSONCoding.encoder().encode(value), as: UTF8.self)
    } catch {
        preconditionFailure("cannot encode \(T.self) as JSON: \(error)")
    }
}

/// Decodes JSON text written by `encodeJSON`.
func decodeJSON<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
    try JSONCoding.decoder().decode(type, from: Data(text.utf8))
}
