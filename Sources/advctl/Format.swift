import AdvProtocol
import Foundation

/// Human-readable output: tables, percentages, durations, progress.
enum Format {
    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func percent(_ value: Double) -> String { String(format: "%.2f%%", value * 100) }

    /// "1 thread", "2 threads" (advctl links no numerics module, so it keeps its own copy of this line).
    static func counted(_ count: Int, _ noun: String) -> String { "\(count) \(count == 1 ? noun : noun + "s")" }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m\(String(format: "%02d", total % 60))s" }
        return "\(total / 3600)h\(String(format: "%02d", total % 3600 / 60))m"
    }

    static func date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: date)
    }

    /// `training epoch 3/10 step 120/469 loss 0.4312 acc 84.20% 2310/s ETA 4m10s`
    static func progress(_ progress: JobProgress?) -> String {
        guard let progress else { return "" }
        var parts = [progress.phase.description]
        if let epoch = progress.epoch, let epochs = progress.epochs { parts.append("epoch \(epoch)/\(epochs)") }
        switch progress.phase {
        case .training, .teacher:
            if let step = progress.step, let steps = progress.stepsPerEpoch { parts.append("step \(step)/\(steps)") }
        default:
            if let detail = progress.detail { parts.append(detail) }
        }
        if let loss = progress.loss { parts.append(String(format: "loss %.4f", loss)) }
        if let accuracy = progress.accuracy { parts.append("acc " + percent(accuracy)) }
        if let speed = progress.samplesPerSecond { parts.append(String(format: "%.0f/s", speed)) }
        if let eta = progress.etaSeconds { parts.append("ETA " + duration(eta)) }
        return parts.joined(separator: " ")
    }

    static func bar(_ fraction: Double, width: Int = 30) -> String {
        let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded())
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
            + String(format: " %3.0f%%", fraction * 100)
    }
}
