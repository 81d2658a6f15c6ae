/// Counts as a sentence says them: "1 epoch", "2 epochs", "1 batch", "3 batches".
public enum Wording {
    /// `count` and its noun, singular for one.
    /// - Parameter plural: the plural when it is not the noun plus "s".
    public static func counted(_ count: Int, _ noun: String, plural: String? = nil) -> String {
        "\(count) \(count == 1 ? noun : plural ?? noun + "s")"
    }
}
