/// Which OpenBLAS kernel ("core") a process should run, decided from what the CPU can run, the core
/// OpenBLAS chose by itself and the environment. A pure function, so every case is tested; applying the
/// decision is the caller's job, because OpenBLAS reads `OPENBLAS_CORETYPE` only when it loads: the
/// daemon sets it in each job's environment, and the foreground commands re-execute themselves once
/// with it set (`KernelSelection.reexecIfBetter`).
public enum KernelSelection {
    /// What to do.
    public enum Decision: Equatable, Sendable {
        /// Run what OpenBLAS chose; the reason says why it is right (or why it stays).
        case keep(reason: String)
        /// Run `core` instead of the weaker `chosen`.
        case use(core: String, instead: String)
    }

    /// The environment variable OpenBLAS reads its kernel from.
    public static let variable = "OPENBLAS_CORETYPE"

    /// The best core for `features`, or nil when none beats OpenBLAS's generic choice.
    public static func bestCore(for features: CPUFeatures) -> String? {
        if features.hasAVX512BF16 { return "Cooperlake" }
        if features.hasAVX512 { return "SkylakeX" }
        if features.hasAVX2FMA { return features.vendor == .amd ? "Zen" : "Haswell" }
        return nil
    }

    /// How capable a core is: what it needs of the CPU, from SSE3 to AVX-512 with bfloat16. Unknown cores
    /// (another architecture's, or a newer OpenBLAS's) rank as capable, so advd never "upgrades" them.
    static func rank(of core: String) -> Int {
        switch core.lowercased() {
        case "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai", "coppermine", "northwood", "banias",
             "opteron", "barcelona", "bobcat", "bulldozer", "piledriver", "steamroller", "excavator", "sandybridge":
            return 1
        case "haswell", "zen": return 2
        case "skylakex": return 3
        case "cooperlake", "sapphirerapids": return 4
        default: return 5
        }
    }

    /// The decision for a CPU with `features` on which OpenBLAS chose `chosenCore`, in `environment`.
    /// A `OPENBLAS_CORETYPE` already set is respected as it is: some machines pin a kernel on purpose,
    /// where a newer one miscomputes.
    public static func decide(features: CPUFeatures, chosenCore: String, environment: [String: String]) -> Decision {
        if let pinned = environment[variable], !pinned.isEmpty {
            return .keep(reason: "\(variable)=\(pinned) is set in the environment")
        }
        guard let best = bestCore(for: features) else { return .keep(reason: "the CPU has neither AVX2 with FMA nor AVX-512") }
        guard rank(of: chosenCore) < rank(of: best) else {
            return .keep(reason: "OpenBLAS chose \(chosenCore), as capable as this CPU allows (\(best))")
        }
        return .use(core: best, instead: chosenCore)
    }
}
