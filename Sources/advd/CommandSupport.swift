import AdvNN
import ArgumentParser
import Foundation

/// Runs a command's work with the compute threads set (default: all cores), turning advd's own errors
/// — which name the file, key or option and what is wrong — into argument-parser's clean exit.
func runWithComputeThreads(_ threads: Int?, _ body: () throws -> Void) throws {
    BLAS.setThreadCount(threads ?? ProcessInfo.processInfo.activeProcessorCount)
    do {
        try body()
    } catch let error as CustomStringConvertible & Error {
        throw ValidationError(error.description)
    }
}
