/// Seeded synthetic datasets: small, exactly reproducible problems with known answers. The train and
/// test splits draw from streams of their own, so asking for more training examples extends the
/// training split (the first N stay the same: self-training's pool comes from beyond them) and leaves
/// the test split unchanged.
extension Dataset {
    /// The robustness–accuracy toy model of Tsipras et al. 2019 ("Robustness May Be at Odds with
    /// Accuracy"): y uniform in {−1, +1} (class 0 is −1, class 1 is +1); x₁ = y with probability p,
    /// else −y (robust but only p-accurate); x₂…x_d ~ N(ηy, 1) (weakly correlated and non-robust).
    /// A linear classifier on the weak features is nearly perfect, but an L∞ attack of ε = 2η flips
    /// them all, while the robust feature alone keeps accuracy p. Inputs are unbounded.
    public static func tsipras(dimensions d: Int, p: Float, eta: Float, trainCount: Int, testCount: Int,
                               seed: UInt64) -> Dataset {
        precondition(d >= 2 && p > 0 && p < 1, "tsipras needs d ≥ 2 and p in (0, 1)")
        func split(_ count: Int, _ part: String) -> DataSplit {
            var rng = RandomStream(seed: seed, purpose: "dataset.tsipras." + part)
            var inputs = [Float](repeating: 0, count: count * d)
            var labels = [Int](repeating: 0, count: count)
            for n in 0..<count {
                let label = Int(rng.next() & 1)
                let y: Float = label == 1 ? 1 : -1
                labels[n] = label
                inputs[n * d] = rng.nextUnitFloat() < p ? y : -y
                for j in 1..<d { inputs[n * d + j] = eta * y + rng.nextNormal() }
            }
            return DataSplit(inputs: inputs, labels: labels, itemShape: [d])
        }
        return Dataset(name: "tsipras", train: split(trainCount, "train"), test: split(testCount, "test"),
                       classNames: ["-1", "+1"], valueRange: nil)
    }

    /// Gaussian class blobs: class k's examples are N(μₖ, σ²I) in d dimensions, with the centres μₖ
    /// drawn uniformly from [−separation, separation]^d. Inputs are unbounded.
    public static func gaussianBlobs(classes: Int, dimensions d: Int, separation: Float, spread σ: Float,
                                     trainCount: Int, testCount: Int, seed: UInt64) -> Dataset {
        precondition(classes >= 2 && d >= 1, "blobs need at least two classes and one dimension")
        var centreRandom = RandomStream(seed: seed, purpose: "dataset.blobs")
        let centres = (0..<classes * d).map { _ in centreRandom.nextFloat(in: -separation, separation) }
        func split(_ count: Int, _ part: String) -> DataSplit {
            var rng = RandomStream(seed: seed, purpose: "dataset.blobs." + part)
            var inputs = [Float](repeating: 0, count: count * d)
            var labels = [Int](repeating: 0, count: count)
            for n in 0..<count {
                let label = rng.nextIndex(below: classes)
                labels[n] = label
                for j in 0..<d { inputs[n * d + j] = centres[label * d + j] + σ * rng.nextNormal() }
            }
            return DataSplit(inputs: inputs, labels: labels, itemShape: [d])
        }
        return Dataset(name: "blobs", train: split(trainCount, "train"), test: split(testCount, "test"),
                       classNames: (0..<classes).map { "class \($0)" }, valueRange: nil)
    }
}
