import AdvNN

/// Small, seeded datasets the test suites of several modules share.
public enum ToyData {
    /// 1×8×8 images in [0, 1] whose class is the quadrant holding a bright 2×2 square on a dim,
    /// random background: learnable in a few epochs by a small CNN, and attackable at ε ≈ 0.3.
    public static func squares(trainCount: Int, testCount: Int, seed: UInt64 = 4) -> Dataset {
        var rng = RandomStream(seed: seed, purpose: "squares")
        func split(_ count: Int) -> DataSplit {
            var inputs = [Float](repeating: 0, count: count * 64), labels = [Int](repeating: 0, count: count)
            for n in 0..<count {
                let label = rng.nextIndex(below: 4)
                labels[n] = label
                for i in 0..<64 { inputs[n * 64 + i] = 0.3 * rng.nextUnitFloat() }
                let top = (label / 2) * 4 + rng.nextIndex(below: 2), left = (label % 2) * 4 + rng.nextIndex(below: 2)
                for dy in 0..<2 { for dx in 0..<2 { inputs[n * 64 + (top + dy) * 8 + left + dx] = 1 } }
            }
            return DataSplit(inputs: inputs, labels: labels, itemShape: [1, 8, 8])
        }
        let train = split(trainCount)
        return Dataset(name: "squares", train: train, test: split(testCount), classNames: ["0", "1", "2", "3"], valueRange: 0...1)
    }
}
