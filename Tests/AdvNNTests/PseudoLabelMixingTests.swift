import AdvNN
import AdvTestSupport
import Foundation
import Testing

/// Robust self-training's batch mixing in the training loop: which batches an epoch draws, how a
/// pseudo-labelled batch is weighted, and exact resumption with a pool.
@Suite struct PseudoLabelMixingTests {
    static let labeled = Dataset.gaussianBlobs(classes: 3, dimensions: 10, separation: 1.5, spread: 1,
                                               trainCount: 100, testCount: 60, seed: 9)
    /// More examples of the same blobs, standing in for a pseudo-labelled pool.
    static let pool = Dataset.gaussianBlobs(classes: 3, dimensions: 10, separation: 1.5, spread: 1,
                                            trainCount: 170, testCount: 1, seed: 9).train
    static let mlp = ModelSpec(architecture: "mlp", inputShape: [10], classes: 3, hidden: [16])

    static func config(ratio: Int = 2, weight: Float = 0.5, momentum: Float = 0.9) -> TrainingConfig {
        var config = TrainingConfig()
        config.epochs = 2
        config.batchSize = 32
        config.seed = 5
        config.optimizer.momentum = momentum
        config.checkpointEverySteps = 5
        config.pseudoLabeled = PseudoLabelMixing(ratio: ratio, weight: weight)
        return config
    }

    static func weights(_ trainer: Trainer) -> [[Float]] {
        ModelCheckpoint.stateTensors(of: trainer.model).map(\.tensor.scalars)
    }

    @Test func anEpochIsOnePassOverTheLabelledDataWithPoolBatchesBetween() throws {
        // 100 labelled examples in batches of 32: 4 labelled batches, each followed by 2 pool batches,
        // which walk on through the pool's permutation
        let plan = EpochBatchPlan(labeledCount: 100, poolCount: 170, batchSize: 32, ratio: 2)
        #expect(plan.stepsPerEpoch == 12)
        let sources = (0..<12).map(plan.source(ofStep:))
        #expect(sources[0] == .labeled(0..<32) && sources[1] == .pool(0..<32) && sources[2] == .pool(32..<64))
        #expect(sources[3] == .labeled(32..<64) && sources[4] == .pool(64..<96))
        #expect(sources[9] == .labeled(96..<100) && sources[11] == .pool(224..<256))   // the pool wraps at 170
        let labelledExamples = sources.reduce(0) { total, source in
            if case .labeled(let range) = source { return total + range.count } else { return total }
        }
        #expect(labelledExamples == 100)
        #expect(EpochBatchPlan(labeledCount: 100, poolCount: 0, batchSize: 32, ratio: 2).stepsPerEpoch == 4)
        let trainer = try Trainer(spec: Self.mlp, dataset: Self.labeled, config: Self.config(ratio: 2), pool: Self.pool)
        #expect(trainer.stepsPerEpoch == 12)
    }

    @Test func aPoolBatchCountsWeightTimesAsMuch() throws {
        // Without momentum the update is −lr·gradient, so a pool batch's update under weight 0.25 is a
        // quarter of its update under weight 1 from the same weights.
        func updateOfFirstPoolStep(weight: Float) throws -> [Float] {
            let trainer = try Trainer(spec: Self.mlp, dataset: Self.labeled, config: Self.config(ratio: 1, weight: weight, momentum: 0),
                                      pool: Self.pool)
            try trainer.run(maximumSteps: 1)   // the first labelled batch: identical under both weights
            let before = Self.weights(trainer).flatMap { $0 }
            try trainer.run(maximumSteps: 1)   // the first pool batch
            return zip(Self.weights(trainer).flatMap { $0 }, before).map { $0 - $1 }
        }
        let full = try updateOfFirstPoolStep(weight: 1), quarter = try updateOfFirstPoolStep(weight: 0.25)
        let largest = full.map(abs).max()!
        #expect(largest > 1e-4)
        for (a, b) in zip(full, quarter) { #expect(abs(0.25 * a - b) <= 1e-6 + 1e-3 * abs(a)) }
    }

    @Test func resumingMidEpochWithAPoolIsBitIdentical() throws {
        let straight = try Trainer(spec: Self.mlp, dataset: Self.labeled, config: Self.config(), pool: Self.pool)
        try straight.run()
        let folder = TemporaryFolder()
        let interrupted = try Trainer(spec: Self.mlp, dataset: Self.labeled, config: Self.config(), checkpointFolder: folder.path,
                                      pool: Self.pool)
        try interrupted.run(maximumSteps: 8)   // the stop saves step 8, between labelled and pool batches
        let resumed = try Trainer(spec: Self.mlp, dataset: Self.labeled, config: Self.config(), checkpointFolder: folder.path,
                                  pool: Self.pool)
        _ = try #require(try resumed.resumeFromLatestCheckpoint())
        #expect(resumed.cursor.step == 8 && resumed.cursor.step % resumed.stepsPerEpoch != 0, "not mid-epoch: \(resumed.stepsPerEpoch) steps per epoch")
        try resumed.run()
        #expect(Self.weights(resumed).map { $0.map(\.bitPattern) } == Self.weights(straight).map { $0.map(\.bitPattern) })
        #expect(resumed.cursor.history.map(\.trainLoss) == straight.cursor.history.map(\.trainLoss))
    }

    @Test func aPoolAndItsMixingComeTogether() {
        var plain = Self.config()
        plain.pseudoLabeled = nil
        expectError(containing: ["does not say how to mix"]) {
            _ = try Trainer(spec: Self.mlp, dataset: Self.labeled, config: plain, pool: Self.pool)
        }
        expectError(containing: ["no pool was given"]) { _ = try Trainer(spec: Self.mlp, dataset: Self.labeled, config: Self.config()) }
        expectError(containing: ["ratio must be at least 1"]) {
            _ = try Trainer(spec: Self.mlp, dataset: Self.labeled, config: Self.config(ratio: 0), pool: Self.pool)
        }
        let images = ToyData.squares(trainCount: 4, testCount: 1).train
        expectError(containing: ["pool examples [1, 8, 8] do not match"]) {
            _ = try Trainer(spec: Self.mlp, dataset: Self.labeled, config: Self.config(), pool: images)
        }
    }
}
