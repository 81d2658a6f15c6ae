import Foundation

/// The control protocol between `advctl` and `advd serve`: one JSON object per line over a Unix
/// stream socket. A client writes a `Request` line; the daemon answers with one `Response` line.
/// Both carry `version`; the daemon answers a request of another major version with an error.
public enum Wire {
    /// The protocol version this build speaks.
    public static let version = 1
    /// The longest request line the daemon reads (a manifest travels inside a submit request).
    public static let maximumRequestBytes = 1 << 20
    /// The socket path when neither `--socket` nor `ADVD_SOCKET` says otherwise.
    public static let defaultSocketPath = "/run/advd/advd.sock"

    /// A value as one line of JSON, newline included.
    public static func line<Value: Encodable>(_ value: Value) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        var data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        data.append(0x0A)
        return data
    }

    /// Decodes one line (without its newline).
    public static func decode<Value: Decodable>(_ type: Value.Type, from line: Data) throws -> Value {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(type, from: line)
    }
}
