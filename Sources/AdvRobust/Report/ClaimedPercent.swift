import Foundation

/// How a report's claim states an accuracy: two decimals, rounded down. The tables round to one decimal
/// beside a confidence interval; the claim stands alone, so it never rounds up to more than was
/// measured (a worst case of 77.45% is not "77.5%"). Two decimals are exact for test sets of up to
/// 10,000 examples.
public enum ClaimedPercent {
    public static func text(_ value: Double) -> String {
        // the nudge keeps an exact count such as 7,745 of 10,000 (0.7745 · 10⁴ = 7,744.999…) at 77.45
        String(format: "%.2f%%", (value * 10_000 + 1e-6).rounded(.down) / 100)
    }
}
