import AdvNN
import Testing

/// The OpenBLAS kernel advd runs, decided from CPU features (the family only for the width of the vector
/// units), the core OpenBLAS chose and the environment: each case of the machines this project has met.
@Suite struct KernelSelectionTests {
    static let avx512 = ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"]
    /// Intel Xeon, family 6 model 207: AVX-512 with bfloat16, which OpenBLAS 0.3.21 does not recognise.
    static let sapphireRapids = CPUFeatures(vendor: .intel, modelName: "Intel(R) Xeon(R) Platinum 8488C",
                                            flags: Set(avx512 + ["avx512_bf16", "avx512_vnni", "amx_tile"]))
    static let zen5 = CPUFeatures(vendor: .amd, modelName: "AMD EPYC", family: 26, model: 2, flags: Set(avx512 + ["avx512_bf16"]))
    /// Zen 4: the same flags as Zen 5, but its AVX-512 runs on 256-bit halves.
    static let zen4 = CPUFeatures(vendor: .amd, modelName: "AMD EPYC", family: 25, model: 17, flags: Set(avx512 + ["avx512_bf16"]))
    static let zen3 = CPUFeatures(vendor: .amd, modelName: "AMD EPYC 7R13", family: 25, model: 1, flags: ["sse3", "avx", "avx2", "fma"])
    static let skylake = CPUFeatures(vendor: .intel, modelName: "Intel(R) Xeon(R) Platinum 8175M", flags: Set(avx512))
    static let haswell = CPUFeatures(vendor: .intel, modelName: "Intel(R) Xeon(R) CPU E5-2676 v3", flags: ["avx", "avx2", "fma"])
    static let old = CPUFeatures(vendor: .intel, modelName: "Intel(R) Core(TM)2", flags: ["sse3", "ssse3"])

    static func decide(_ features: CPUFeatures, chose core: String, _ environment: [String: String] = [:]) -> KernelSelection.Decision {
        KernelSelection.decide(features: features, chosenCore: core, environment: environment)
    }

    @Test func anAVX512BF16IntelCPUThatOpenBLASDoesNotKnowGetsCooperlake() {
        #expect(Self.decide(Self.sapphireRapids, chose: "Prescott") == .use(core: "Cooperlake", instead: "Prescott"))
    }

    @Test func aKernelPinnedInTheEnvironmentIsRespected() {
        guard case .keep(let reason) = Self.decide(Self.sapphireRapids, chose: "Haswell", ["OPENBLAS_CORETYPE": "Haswell"]) else {
            Issue.record("a pinned kernel must stay")
            return
        }
        #expect(reason == "OPENBLAS_CORETYPE=Haswell is set in the environment")
        // an empty variable pins nothing
        #expect(Self.decide(Self.sapphireRapids, chose: "Prescott", ["OPENBLAS_CORETYPE": ""]) == .use(core: "Cooperlake", instead: "Prescott"))
    }

    @Test func whatOpenBLASAlreadyChoseWellStays() {
        for (features, core) in [(Self.zen5, "Cooperlake"), (Self.zen3, "Zen"), (Self.zen4, "Haswell"), (Self.zen4, "Zen"),
                                 (Self.skylake, "SkylakeX"), (Self.haswell, "Haswell"),
                                 (Self.zen3, "Haswell"), (Self.sapphireRapids, "SapphireRapids")] {
            guard case .keep = Self.decide(features, chose: core) else {
                Issue.record("\(features.modelName) with \(core) should keep it")
                continue
            }
        }
    }

    @Test func weakerChoicesAreRaisedToWhatTheFeaturesAllow() {
        #expect(Self.decide(Self.skylake, chose: "Haswell") == .use(core: "SkylakeX", instead: "Haswell"))
        #expect(Self.decide(Self.zen5, chose: "Zen") == .use(core: "Cooperlake", instead: "Zen"))
        #expect(Self.decide(Self.zen3, chose: "Prescott") == .use(core: "Zen", instead: "Prescott"))
        #expect(Self.decide(Self.haswell, chose: "Sandybridge") == .use(core: "Haswell", instead: "Sandybridge"))
    }

    @Test func aCPUThatSplitsAVX512GetsTheAVX2KernelEvenWhereOpenBLASChoseAnAVX512One() {
        #expect(Self.zen4.splitsAVX512 && !Self.zen5.splitsAVX512 && !Self.zen3.splitsAVX512 && !Self.sapphireRapids.splitsAVX512)
        #expect(KernelSelection.bestCore(for: Self.zen4) == "Haswell")
        #expect(Self.decide(Self.zen4, chose: "Cooperlake") == .use(core: "Haswell", instead: "Cooperlake"))
        #expect(Self.decide(Self.zen4, chose: "SkylakeX") == .use(core: "Haswell", instead: "SkylakeX"))
        #expect(Self.decide(Self.zen4, chose: "Prescott") == .use(core: "Haswell", instead: "Prescott"))
        // a pinned AVX-512 kernel stays pinned
        guard case .keep = Self.decide(Self.zen4, chose: "Cooperlake", ["OPENBLAS_CORETYPE": "Cooperlake"]) else {
            Issue.record("a pinned kernel must stay")
            return
        }
    }

    @Test func aCPUWithoutAVX2AndAnUnknownCoreAreLeftAlone() {
        #expect(KernelSelection.bestCore(for: Self.old) == nil)
        guard case .keep = Self.decide(Self.old, chose: "Prescott"), case .keep = Self.decide(Self.zen5, chose: "NEOVERSEN1") else {
            Issue.record("nothing to raise")
            return
        }
    }

    @Test func cpuinfoIsReadForTheFirstProcessor() {
        let text = """
            processor\t: 0
            vendor_id\t: GenuineIntel
            cpu family\t: 6
            model\t\t: 207
            model name\t: Intel(R) Xeon(R) Platinum 8488C
            flags\t\t: fpu sse3 avx2 fma avx512f avx512bw avx512dq avx512vl avx512_bf16

            processor\t: 1
            vendor_id\t: AuthenticAMD
            """
        let features = CPUFeatures.parse(cpuinfo: text)
        #expect(features.vendor == .intel && features.modelName == "Intel(R) Xeon(R) Platinum 8488C")
        #expect(features.family == 6 && features.model == 207)
        #expect(features.description == "Intel(R) Xeon(R) Platinum 8488C, family 6 model 207")
        #expect(features.hasAVX512BF16 && features.hasAVX2FMA)
        #expect(KernelSelection.bestCore(for: features) == "Cooperlake")
        let empty = CPUFeatures.parse(cpuinfo: "")
        #expect(empty.vendor == .other && empty.family == nil && empty.description == "unknown CPU")
    }
}
