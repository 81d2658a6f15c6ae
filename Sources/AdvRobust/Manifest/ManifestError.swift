/// A manifest that cannot be accepted. The message names the file, the key path and the line, and says
/// what is wrong, e.g. `exp.yaml: train.optimizer.lr: expected a number in (0, 10], got "0.3x" (line 12)`.
public struct ManifestError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The manifest's file name (or another label of its source).
    public let source: String
    /// The dotted key path, e.g. `evaluation.attacks[1].steps`; empty for the document itself.
    public let path: String
    /// The 1-based line of the offending node, when known.
    public let line: Int?
    public let message: String

    public init(source: String, path: String, line: Int?, message: String) {
        self.source = source
        self.path = path
        self.line = line
        self.message = message
    }

    public var description: String {
        let location = path.isEmpty ? "" : "\(path): "
        let lineText = line.map { " (line \($0))" } ?? ""
        return "\(source): \(location)\(message)\(lineText)"
    }
}
