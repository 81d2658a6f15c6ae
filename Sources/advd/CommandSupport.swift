import AdvNN
import ArgumentParser
import Foundation

/// Runs a command's work on a compute context of `threads` threads (default: all cores), turning
/// advd's own errors — which name the file, key or option and what is wrong — into argument-parser's
/// clean exit.
func runWithComputeThreads(_ threads: Int?, _ body: (ComputeContext) throws -> Void) throws {
    let compute = try computeContext(threads: threads)
    try reportingErrors { try body(compute) }
}

/// The context `--threads` asks for.
/// - Throws: `ValidationError` for a count below 1.
func computeContext(threads: Int?) throws -> ComputeContext {
    let count = threads ?? ProcessInfo.processInfo.activeProcessorCount
    guard count >= 1 else { throw ValidationError("--threads: expected at least 1, got \(count)") }
    return ComputeContext(threads: count)
}

/// Maps advd's own errors into argument-parser's clean exit.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as CustomStringConvertible & Error {
        throw ValidationError(error.description)
    }
}

/// "1 thread", "2 threads".
func threadsText(_ compute: ComputeContext) -> String { Wording.counted(compute.threads, "thread") }
