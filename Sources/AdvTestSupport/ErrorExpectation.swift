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
