import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension KernelSelection {
    /// Set beside `OPENBLAS_CORETYPE` when advd chose the kernel: the core OpenBLAS had chosen, to fall
    /// back to if advd's choice fails the check against the naive GEMM.
    public static let fallbackVariable = "ADVD_KERNEL_FALLBACK"

    /// Why this process runs the kernel it runs (for logs and provenance).
    public static var note: String {
        decidedNote ?? "kernel \(BLAS.coreName): OpenBLAS's own choice (this process did not run advd's kernel selection)"
    }
    /// Set once by `prepareProcess`, before any other thread starts.
    private nonisolated(unsafe) static var decidedNote: String?

    /// Makes this process run the best kernel for its CPU. OpenBLAS reads `OPENBLAS_CORETYPE` only when
    /// it loads, so where `decide` asks for a better kernel the process re-executes itself (same pid,
    /// arguments and environment, plus the variable); the re-executed process checks the kernel against
    /// the naive GEMM and, if it disagrees, drops it with a warning and re-executes once more with the
    /// core OpenBLAS had chosen, now pinned. Child processes inherit the choice with the environment.
    /// Call it first thing, before any thread starts. Returns when the process runs the kernel it keeps.
    /// - Parameter warn: where a dropped kernel is reported.
    public static func prepareProcess(warn: (String) -> Void) {
        let environment = ProcessInfo.processInfo.environment
        let core = BLAS.coreName
        if let fallback = environment[fallbackVariable] {
            let error = BLAS.largestErrorAgainstNaive()
            guard error < 1e-3 else {
                warn("OpenBLAS kernel \(core) computes wrong products on this CPU (error \(error) against the naive GEMM); dropped, running \(fallback)")
                reexecute(setting: [variable: fallback], removing: [fallbackVariable])
                decidedNote = "kernel \(core): advd's choice failed its check and \(fallback) could not be restored"
                return
            }
            decidedNote = "kernel \(core): chosen by advd for this CPU's features instead of OpenBLAS's \(fallback), checked against the naive GEMM"
            return
        }
        switch decide(features: .current, chosenCore: core, environment: environment) {
        case .keep(let reason):
            decidedNote = "kernel \(core): \(reason)"
        case let .use(better, weaker):
            reexecute(setting: [variable: better, fallbackVariable: weaker], removing: [])
            decidedNote = "kernel \(core): \(better) would suit this CPU better, but the process could not re-execute itself"
        }
    }

    /// Replaces this process with itself under a changed environment; returns only if execve fails.
    private static func reexecute(setting: [String: String], removing: [String]) {
        var environment = ProcessInfo.processInfo.environment
        for key in removing { environment[key] = nil }
        environment.merge(setting) { $1 }
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        let pairs = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (arguments + pairs).forEach { free($0) } }
        execve("/proc/self/exe", arguments, pairs)
    }
}
