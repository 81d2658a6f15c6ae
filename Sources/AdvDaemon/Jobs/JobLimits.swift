/// The bounds every submission is held to, whichever way it arrives (advctl, a spool file, the
/// configuration's spool labels), so no input can grow without limit: a label of 100,000 characters or
/// a priority of 2⁶³ is refused with the limit it broke.
public enum JobLimits {
    /// Priorities run from -1000 to 1000, for advctl as for spool folders.
    public static let priorities = -1000...1000
    public static let maximumLabels = 16
    public static let maximumLabelLength = 64
    /// Manifests one `advctl submit` may queue together (all or none).
    public static let maximumManifestsPerSubmission = 100
    /// Jobs one `advctl submit` may queue together, sweeps expanded.
    public static let maximumJobsPerSubmission = 1000
    /// The largest manifest accepted (a spool file; a socket request is bounded by `Wire.maximumRequestBytes`).
    public static let maximumManifestBytes = 256 * 1024

    /// A message saying what is wrong with `priority`, or nil when it is within bounds.
    public static func problem(priority: Int) -> String? {
        priorities.contains(priority) ? nil
            : "priority \(priority) is outside \(priorities.lowerBound)…\(priorities.upperBound)"
    }

    /// A message saying what is wrong with `labels`, or nil: at most 16, each 1–64 letters, digits, `-`, `_`, `.` or `:`.
    public static func problem(labels: [String]) -> String? {
        if labels.count > maximumLabels { return "\(labels.count) labels; at most \(maximumLabels) are allowed" }
        for label in labels {
            let allowed = label.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || "-_.:".contains($0) }
            guard !label.isEmpty, label.count <= maximumLabelLength, allowed else {
                return "label \"\(label.prefix(80))\(label.count > 80 ? "…" : "")\": expected 1–\(maximumLabelLength) letters, digits, '-', '_', '.' or ':'"
            }
        }
        return nil
    }

    /// A message when a manifest of `bytes` is too large, or nil.
    public static func problem(manifestBytes bytes: Int) -> String? {
        bytes <= maximumManifestBytes ? nil : "the manifest is \(bytes) bytes; at most \(maximumManifestBytes) are accepted"
    }
}
