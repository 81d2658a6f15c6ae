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
        /// Run `core` instead of `chosen`: a weaker core, or on a CPU that splits AVX-512
        /// (`CPUFeatures.splitsAVX512`) an AVX-512 one, which runs slower there than the AVX2 kernel.
        case use(core: String, instead: String)
    }

    /// The environment variable OpenBLAS reads its kernel from.
    public static let variable = "OPENBLAS_CORETYPE"

    /// The best core for `features`, or nil when none beats OpenBLAS's generic choice. A CPU that splits
    /// AVX-512 into 256-bit halves gets the AVX2 kernel `Haswell`: on a 2-core Zen 4 VM (family 25 model 17,
    /// one thread, medians of three alternating rounds of advbench) it ran every row of the MLPs and
    /// `cnn-small` 1.01–1.30× as fast as `Cooperlake`, OpenBLAS's own choice there (the wide MLP's
    /// batch-32 inference 14,975 → 19,507 samples/s, training 5,434 → 6,187), where `Zen` was uneven
    /// (0.91–1.41×); the ResNet, whose convolutions are advd's own, within noise. On two threads the wide
    /// MLP and `cnn-small` ran 0.98–1.28× as fast (two rounds), but the small MLP 0.89–1.01× (six): a
    /// net gain, not a clean one (the side-by-side run still had the small MLP at 1.24–2.28× PyTorch).
    public static func bestCore(for features: CPUFeatures) -> String? {
        if features.splitsAVX512 { return "Haswell" }
        if features.hasAVX512 { return features.hasAVX512BF16 ? "Cooperlake" : "SkylakeX" }
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

    /// The ranks of the AVX-512 cores, from the table above.
    static let avx512Ranks = rank(of: "SkylakeX")...rank(of: "Cooperlake")

    /// The decision for a CPU with `features` on which OpenBLAS chose `chosenCore`, in `environment`.
    /// A `OPENBLAS_CORETYPE` already set is respected as it is: some machines pin a kernel on purpose,
    /// where a newer one miscomputes.
    public static func decide(features: CPUFeatures, chosenCore: String, environment: [String: String]) -> Decision {
        if let pinned = environment[variable], !pinned.isEmpty {
            return .keep(reason: "\(variable)=\(pinned) is set in the environment")
        }
        guard let best = bestCore(for: features) else { return .keep(reason: "the CPU has neither AVX2 with FMA nor AVX-512") }
        let chosenRank = rank(of: chosenCore)
        // a weaker core, or an AVX-512 one on a CPU whose AVX2 kernel runs faster
        if chosenRank < rank(of: best) || (features.splitsAVX512 && avx512Ranks.contains(chosenRank)) {
            return .use(core: best, instead: chosenCore)
        }
        return .keep(reason: "OpenBLAS chose \(chosenCore), as capable as this CPU allows (\(best))")
    }
}
