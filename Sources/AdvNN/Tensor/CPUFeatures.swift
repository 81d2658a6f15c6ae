import Foundation

/// What the processor can run, as Linux reports it in `/proc/cpuinfo`: its vendor, model name, family and
/// model numbers, and instruction-set flags. The kernel choice reads features, not model tables: OpenBLAS
/// 0.3.21 does not know newer models (an Intel Xeon of family 6, model 207 falls back to its SSE3
/// `Prescott` kernel). The one thing flags cannot tell, how wide the vector units are, comes from the
/// family (`splitsAVX512`).
public struct CPUFeatures: Equatable, Sendable {
    public enum Vendor: String, Sendable { case intel = "GenuineIntel", amd = "AuthenticAMD", other }

    public var vendor: Vendor
    /// `model name`, e.g. "Intel(R) Xeon(R) Platinum 8488C"; on cloud VMs often no more than "AMD EPYC".
    public var modelName: String
    /// `cpu family` and `model`: AMD's Zen 3 and Zen 4 are family 25, Zen 5 family 26, recent Intel family 6.
    public var family: Int?
    public var model: Int?
    /// Lower-case flags: `avx2`, `fma`, `avx512f`, `avx512_bf16`, …
    public var flags: Set<String>

    public init(vendor: Vendor, modelName: String, family: Int? = nil, model: Int? = nil, flags: Set<String>) {
        self.vendor = vendor
        self.modelName = modelName
        self.family = family
        self.model = model
        self.flags = flags
    }

    /// This machine's processor (the first one listed; they are all alike on the machines advd runs on).
    public static let current: CPUFeatures = parse(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")

    /// Features from the text of `/proc/cpuinfo`.
    public static func parse(cpuinfo: String) -> CPUFeatures {
        var fields: [String: String] = [:]
        for line in cpuinfo.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else {
                if !fields.isEmpty { break }   // a blank line ends the first processor
                continue
            }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            if fields[key] == nil { fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return CPUFeatures(vendor: Vendor(rawValue: fields["vendor_id"] ?? "") ?? .other,
                           modelName: fields["model name"] ?? "unknown CPU",
                           family: fields["cpu family"].flatMap { Int($0) }, model: fields["model"].flatMap { Int($0) },
                           flags: Set((fields["flags"] ?? "").split(separator: " ").map { $0.lowercased() }))
    }

    /// The model name with the family and model numbers, which tell apart CPUs that VMs name alike
    /// ("AMD EPYC, family 25 model 17" is a Zen 4, "AMD EPYC, family 26 model 2" a Zen 5).
    public var description: String {
        guard let family, let model else { return modelName }
        return "\(modelName), family \(family) model \(model)"
    }

    /// AVX-512 Foundation, Byte/Word, Doubleword/Quadword and Vector Length: what OpenBLAS's SkylakeX kernels use.
    public var hasAVX512: Bool { ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) }
    /// AVX-512 with bfloat16: OpenBLAS's Cooperlake kernels.
    public var hasAVX512BF16: Bool { hasAVX512 && flags.contains("avx512_bf16") }
    /// AVX2 with fused multiply–add: the Haswell (Intel) and Zen (AMD) kernels.
    public var hasAVX2FMA: Bool { flags.contains("avx2") && flags.contains("fma") }

    /// AVX-512 executed in 256-bit halves: AMD's Zen 4 (family 25, shared with Zen 3, which has no
    /// AVX-512) runs each 512-bit instruction on its two 256-bit units, so AVX-512 does no more arithmetic
    /// per cycle than AVX2. Zen 5 (family 26) has 512-bit units. No flag says this, hence the family.
    /// It decides OpenBLAS's kernel only: advd's own direct convolutions keep AVX-512 there, whose 32
    /// registers hold more of a block (their AVX2 twins ran the ResNet and LeNet 0.84–0.96× as fast).
    public var splitsAVX512: Bool { vendor == .amd && family == 25 && hasAVX512 }
}
