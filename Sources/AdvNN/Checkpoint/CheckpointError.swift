/// A checkpoint that cannot be written or read back; the message names the file and, for a mismatch,
/// the tensor, its shape and the expected shape.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
