import AdvNN
import Testing

/// The OpenBLAS kernel advd runs, decided from CPU features (never model numbers), the core OpenBLAS
/// chose and the environment: each case of the machines this project has met.
@Suite struct KernelSelectionTests {
    static let avx512 = ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"]
    /// Intel Xeon, family 6 model 207: AVX-512 with bfloat16, which OpenBLAS 0.3.21 does not recognise.
    static let sapphireRapids = CPUFeatures(vendor: .intel, modelName: "Intel(R) Xeon(R) Platinum 8488C",
                                            flags: Set(avx512 + ["avx512_bf16", "avx512_vnni", "amx_tile"]))
    static let zen5 = CPUFeatures(vendor: .amd, modelName: "AMD EPYC 9R45", flags: Set(avx512 + ["avx512_bf16"]))
    static let zen3 = CPUFeatures(vendor: .amd, modelName: "AMD EPYC 7R13", flags: ["sse3", "avx", "avx2", "fma"])
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
        for (features, core) in [(Self.zen5, "Cooperlake"), (Self.zen3, "Zen"), (Self.skylake, "SkylakeX"), (Self.haswell, "Haswell"),
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
            model name\t: Intel(R) Xeon(R) Platinum 8488C
            flags\t\t: fpu sse3 avx2 fma avx512f avx512bw avx512dq avx512vl avx512_bf16

            processor\t: 1
            vendor_id\t: AuthenticAMD
            """
        let features = CPUFeatures.parse(cpuinfo: text)
        #expect(features.vendor == .intel && features.modelName == "Intel(R) Xeon(R) Platinum 8488C")
        #expect(features.hasAVX512BF16 && features.hasAVX2FMA)
        #expect(KernelSelection.bestCore(for: features) == "Cooperlake")
        #expect(CPUFeatures.parse(cpuinfo: "").vendor == .other)
    }
}
