import Testing

/// Expects `body` to throw an error whose description contains every fragment: tests pin down what a
/// user is told, not only that something failed.
public func expectError(containing fragments: [String], sourceLocation: SourceLocation = #_sourceLocation,
                        _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an error mentioning \(fragments)", sourceLocation: sourceLocation)
    } catch {
        for fragment in fragments {
            #expect("\(error)".contains(fragment), "\(error) should mention \(fragment)", sourceLocation: sourceLocation)
        }
    }
}

/// A test's own failure with what went wrong, for a helper that cannot go on.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
