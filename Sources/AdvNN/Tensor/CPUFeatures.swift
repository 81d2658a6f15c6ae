import Foundation

/// What the processor can run, as Linux reports it in `/proc/cpuinfo`: its vendor, model name and
/// instruction-set flags. The kernel choice reads features, never model numbers: OpenBLAS 0.3.21 does
/// not know newer models (an Intel Xeon of family 6, model 207 falls back to its SSE3 `Prescott` kernel).
public struct CPUFeatures: Equatable, Sendable {
    public enum Vendor: String, Sendable { case intel = "GenuineIntel", amd = "AuthenticAMD", other }

    public var vendor: Vendor
    /// `model name`, e.g. "Intel(R) Xeon(R) Platinum 8488C".
    public var modelName: String
    /// Lower-case flags: `avx2`, `fma`, `avx512f`, `avx512_bf16`, …
    public var flags: Set<String>

    public init(vendor: Vendor, modelName: String, flags: Set<String>) {
        self.vendor = vendor
        self.modelName = modelName
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
                           flags: Set((fields["flags"] ?? "").split(separator: " ").map { $0.lowercased() }))
    }

    /// AVX-512 Foundation, Byte/Word, Doubleword/Quadword and Vector Length: what OpenBLAS's SkylakeX kernels use.
    public var hasAVX512: Bool { ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) }
    /// AVX-512 with bfloat16: OpenBLAS's Cooperlake kernels.
    public var hasAVX512BF16: Bool { hasAVX512 && flags.contains("avx512_bf16") }
    /// AVX2 with fused multiply–add: the Haswell (Intel) and Zen (AMD) kernels.
    public var hasAVX2FMA: Bool { flags.contains("avx2") && flags.contains("fma") }
}
