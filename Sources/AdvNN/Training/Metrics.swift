/// Accuracy and prediction helpers shared by training and evaluation.
public enum Metrics {
    /// The index of the largest logit of row `row` of (N, K) logits (the first on ties).
    @inline(__always)
    public static func predictedClass(logits: Tensor, row: Int) -> Int {
        let K = logits.shape[1], z = logits.data + row * K
        var best = 0
        for k in 1..<K where z[k] > z[best] { best = k }
        return best
    }

    /// How many rows of `logits` predict their label.
    public static func correctCount(logits: Tensor, labels: [Int]) -> Int {
        var correct = 0
        for row in 0..<labels.count where predictedClass(logits: logits, row: row) == labels[row] { correct += 1 }
        return correct
    }

    /// Clean accuracy of `model` on `split`, in evaluation mode (running statistics), in batches.
    /// The model's training mode is restored afterwards.
    public static func accuracy(of model: Sequential, on split: DataSplit, batchSize: Int = 500) -> Double {
        guard split.count > 0 else { return 0 }
        let wasTraining = model.isTraining
        model.isTraining = false
        defer { model.isTraining = wasTraining }
        let batch = Tensor(zeros: Shape(0))
        var labels: [Int] = []
        let order = Array(0..<split.count)
        var correct = 0
        for start in stride(from: 0, to: split.count, by: batchSize) {
            split.gather(order[start..<min(start + batchSize, split.count)], into: batch, labels: &labels)
            correct += correctCount(logits: model.infer(batch), labels: labels)
        }
        return Double(correct) / Double(split.count)
    }
}
