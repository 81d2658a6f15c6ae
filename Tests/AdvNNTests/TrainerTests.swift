import AdvNN
import AdvTestSupport
import Foundation
import Testing

/// Determinism, exact resumption and real learning of the training loop, on small seeded data.
@Suite struct TrainerTests {
    static let blobs = Dataset.gaussianBlobs(classes: 3, dimensions: 10, separation: 1.5, spread: 1,
                                             trainCount: 300, testCount: 200, seed: 9)

    /// Tiny 1×8×8 "images" whose class is the quadrant holding a bright square, for the conv path.
    static let squares = ToyData.squares(trainCount: 160, testCount: 80)

    static let mlp = ModelSpec(architecture: "mlp", inputShape: [10], classes: 3, hidden: [16, 16])
    static let resnet = ModelSpec(architecture: "preact-resnet", inputShape: [1, 8, 8], classes: 4, widths: [4, 8])

    static func config(epochs: Int = 3, batchSize: Int = 32, optimizer: OptimizerConfig.Kind = .sgd) -> TrainingConfig {
        var config = TrainingConfig()
        config.epochs = epochs
        config.batchSize = batchSize
        config.seed = 17
        config.optimizer.kind = optimizer
        config.optimizer.learningRate = optimizer == .sgd ? 0.05 : 0.01
        config.optimizer.momentum = optimizer == .sgd ? 0.9 : 0
        config.optimizer.weightDecay = 5e-4
        config.checkpointEverySteps = 4
        return config
    }

    /// Every tensor of the model and the optimiser, bit patterns included.
    static func state(_ trainer: Trainer) -> [String: [UInt32]] {
        var state: [String: [UInt32]] = [:]
        for (name, tensor) in ModelCheckpoint.stateTensors(of: trainer.model) + trainer.optimizer.namedState {
            state[name] = tensor.scalars.map(\.bitPattern)
        }
        return state
    }

    /// The history without wall-clock fields, which legitimately differ between runs.
    static func outcomes(_ trainer: Trainer) -> [[Double]] {
        trainer.cursor.history.map { [Double($0.epoch), $0.trainLoss, $0.trainAccuracy, $0.validationAccuracy ?? -1, Double($0.learningRate)] }
    }

    @Test(arguments: [mlp, resnet])
    func sameSeedGivesBitIdenticalWeights(spec: ModelSpec) throws {
        let data = spec == Self.mlp ? Self.blobs : Self.squares
        let first = try Trainer(spec: spec, dataset: data, config: Self.config(epochs: 2))
        let second = try Trainer(spec: spec, dataset: data, config: Self.config(epochs: 2))
        try first.run()
        try second.run()
        #expect(Self.state(first) == Self.state(second))
        #expect(Self.outcomes(first) == Self.outcomes(second))
        var otherSeed = Self.config(epochs: 2)
        otherSeed.seed = 18
        let third = try Trainer(spec: spec, dataset: data, config: otherSeed)
        try third.run()
        #expect(Self.state(first) != Self.state(third))
    }

    @Test(arguments: [(mlp, OptimizerConfig.Kind.sgd, 7), (mlp, .adam, 10), (resnet, .sgd, 9), (resnet, .adamw, 13)])
    func resumingFromACheckpointIsBitIdentical(spec: ModelSpec, optimizer: OptimizerConfig.Kind, stopAfter: Int) throws {
        let data = spec == Self.mlp ? Self.blobs : Self.squares
        let config = Self.config(optimizer: optimizer)
        let straight = try Trainer(spec: spec, dataset: data, config: config)
        try straight.run()

        // a stop after `maximumSteps` saves where it stopped, and the run resumes exactly there
        let stopped = TemporaryFolder()
        try Trainer(spec: spec, dataset: data, config: config, checkpointFolder: stopped.path).run(maximumSteps: stopAfter)
        let atStop = try Trainer(spec: spec, dataset: data, config: config, checkpointFolder: stopped.path)
        #expect(try atStop.resumeFromLatestCheckpoint()?.hasSuffix(Trainer.checkpointName(step: stopAfter)) == true)
        try atStop.run()
        #expect(Self.state(atStop) == Self.state(straight))

        // a crash loses the stop's checkpoint: the latest left is at a multiple of checkpointEverySteps,
        // possibly mid-epoch, and the work after it is done again by the fresh trainer
        let folder = TemporaryFolder()
        try Trainer(spec: spec, dataset: data, config: config, checkpointFolder: folder.path).run(maximumSteps: stopAfter)
        let resumed = try Trainer(spec: spec, dataset: data, config: config, checkpointFolder: folder.path)
        if stopAfter % 4 != 0 && stopAfter % resumed.stepsPerEpoch != 0 {   // not also a regular checkpoint
            try FileManager.default.removeItem(atPath: folder.file(Trainer.checkpointName(step: stopAfter)))
        }
        let path = try #require(try resumed.resumeFromLatestCheckpoint())
        // checkpoints are written every 4 steps and at every epoch end
        let expectedStep = max(stopAfter / 4 * 4, stopAfter / resumed.stepsPerEpoch * resumed.stepsPerEpoch)
        #expect(path.hasSuffix(Trainer.checkpointName(step: expectedStep)))
        #expect(resumed.cursor.step == expectedStep)
        try resumed.run()
        #expect(Self.state(resumed) == Self.state(straight))
        #expect(Self.outcomes(resumed) == Self.outcomes(straight))
        #expect(Trainer.checkpoints(in: folder.path).count == 2)
    }

    @Test func tornNewestCheckpointFallsBackToTheOlderOne() throws {
        let folder = TemporaryFolder()
        let config = Self.config()
        let trainer = try Trainer(spec: Self.mlp, dataset: Self.blobs, config: config, checkpointFolder: folder.path)
        try trainer.run(maximumSteps: 8)
        // simulate a file cut short by something other than advd (AtomicFile never leaves one)
        let newest = Trainer.checkpoints(in: folder.path).last!
        let bytes = try Data(contentsOf: URL(fileURLWithPath: newest))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: newest))
        let resumed = try Trainer(spec: Self.mlp, dataset: Self.blobs, config: config, checkpointFolder: folder.path)
        #expect(try resumed.resumeFromLatestCheckpoint()?.hasSuffix(Trainer.checkpointName(step: 4)) == true)
        #expect(resumed.skippedCheckpoints.map(\.path) == [newest] && resumed.skippedCheckpoints[0].reason.contains("truncated"))
    }

    /// One flipped bit in the newest checkpoint's data: its checksum fails, the trainer says so and
    /// resumes from the one before, and the run still ends bit-identical to one never interrupted.
    @Test func aFlippedBitInTheNewestCheckpointIsCaughtAndTheOlderOneUsed() throws {
        let folder = TemporaryFolder()
        let config = Self.config()
        let straight = try Trainer(spec: Self.mlp, dataset: Self.blobs, config: config)
        try straight.run()
        let trainer = try Trainer(spec: Self.mlp, dataset: Self.blobs, config: config, checkpointFolder: folder.path)
        try trainer.run(maximumSteps: 8)
        let newest = Trainer.checkpoints(in: folder.path).last!
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: newest)))
        bytes[bytes.count - 7] ^= 0x10   // a bit of the last tensor's data, the header untouched
        try Data(bytes).write(to: URL(fileURLWithPath: newest))
        expectError(containing: [newest, "corrupt", "checksum"]) { _ = try SafeTensors.read(from: newest) }
        let resumed = try Trainer(spec: Self.mlp, dataset: Self.blobs, config: config, checkpointFolder: folder.path)
        #expect(try resumed.resumeFromLatestCheckpoint()?.hasSuffix(Trainer.checkpointName(step: 4)) == true)
        #expect(resumed.skippedCheckpoints.first?.reason.contains("corrupt") == true)
        try resumed.run()
        #expect(Self.state(resumed) == Self.state(straight))
    }

    @Test func resumingUnderAnotherConfigurationIsRefused() throws {
        let folder = TemporaryFolder()
        try Trainer(spec: Self.mlp, dataset: Self.blobs, config: Self.config(), checkpointFolder: folder.path).run(maximumSteps: 4)
        var changed = Self.config()
        changed.optimizer.learningRate = 0.1
        let other = try Trainer(spec: Self.mlp, dataset: Self.blobs, config: changed, checkpointFolder: folder.path)
        expectError(containing: ["step-00000004.safetensors", "another training configuration"]) {
            try other.resumeFromLatestCheckpoint()
        }
    }

    @Test func learnsSeparableData() throws {
        let mlp = try Trainer(spec: Self.mlp, dataset: Self.blobs.holdingOutValidation(60), config: Self.config(epochs: 15))
        var epochsReported = 0
        try mlp.run { if case .epochEnd = $0.event { epochsReported += 1 } }
        #expect(epochsReported == 15)
        #expect(mlp.cursor.history.last!.validationAccuracy! > 0.85)
        #expect(mlp.cursor.history.last!.trainLoss < mlp.cursor.history.first!.trainLoss)
        let cnn = try Trainer(spec: ModelSpec(architecture: "cnn-small", inputShape: [1, 8, 8], classes: 4),
                              dataset: Self.squares, config: Self.config(epochs: 6, batchSize: 16))
        try cnn.run()
        #expect(Metrics.accuracy(of: cnn.model, on: Self.squares.test) > 0.9)
    }

    @Test func divergenceIsReportedNotHidden() throws {
        var config = Self.config()
        config.optimizer.learningRate = 1e30
        let trainer = try Trainer(spec: Self.mlp, dataset: Self.blobs, config: config)
        expectError(containing: ["training loss became", "lower the learning rate"]) { try trainer.run() }
    }

    /// Records what each step is given, and trains as standard training does.
    struct RecordingMethod: TrainingMethod {
        let name = "recording"
        final class Record { var batches: [(inputs: [Float], examples: [Int], views: [ImageAugmentation.View])] = [] }
        let record = Record()
        var standard = StandardTraining()
        mutating func step(model: Sequential, inputs: Tensor, labels: [Int], optimizer: any Optimizer,
                           rng: inout RandomStream, position: TrainingPosition) -> StepResult {
            record.batches.append((inputs.scalars, position.examples, position.views))
            return standard.step(model: model, inputs: inputs, labels: labels, optimizer: optimizer, rng: &rng, position: position)
        }
    }

    /// With augmentation each step gets every batch image through the view the step is told of, and
    /// most views move pixels; without it, steps get the images as they are and no views.
    @Test func augmentationGivesEachStepItsImagesThroughTheirViews() throws {
        var config = Self.config(epochs: 1)
        config.augmentation = ImageAugmentation(cropPadding: 1, horizontalFlip: true)
        let method = RecordingMethod()
        try Trainer(spec: Self.resnet, dataset: Self.squares, config: config, method: method).run()
        #expect(method.record.batches.count == 5)
        var moved = 0
        for batch in method.record.batches {
            #expect(batch.views.count == batch.examples.count)
            for (row, (example, view)) in zip(batch.examples, batch.views).enumerated() {
                let original = Array(Self.squares.train.batch(example..<example + 1).inputs.scalars)
                var expected = [Float](repeating: 0, count: 64)
                original.withUnsafeBufferPointer { source in
                    expected.withUnsafeMutableBufferPointer { view.render(source.baseAddress!, into: $0.baseAddress!, channels: 1, height: 8, width: 8) }
                }
                #expect(Array(batch.inputs[row * 64..<(row + 1) * 64]) == expected, "example \(example), \(view)")
                if !view.isIdentity { moved += 1 }
            }
        }
        #expect(moved > 100, "most of 160 views move pixels: \(moved)")
        // without augmentation the steps get no views
        let plain = RecordingMethod()
        try Trainer(spec: Self.resnet, dataset: Self.squares, config: Self.config(epochs: 1), method: plain).run()
        #expect(plain.record.batches.allSatisfy { $0.views.isEmpty })
        expectError(containing: ["augmentation crops and flips images", "[10]"]) {
            _ = try Trainer(spec: Self.mlp, dataset: Self.blobs, config: config)
        }
    }

    @Test func mismatchedModelAndDataAreRefused() {
        expectError(containing: ["input shape [10]", "[1, 8, 8]"]) {
            _ = try Trainer(spec: Self.mlp, dataset: Self.squares, config: Self.config())
        }
        var config = Self.config()
        config.batchSize = 0
        expectError(containing: ["batchSize must be at least 1"]) {
            _ = try Trainer(spec: Self.mlp, dataset: Self.blobs, config: config)
        }
    }
}

/// Parallel kernels split work so that every output element is computed by one thread in a fixed
/// order: the thread count changes the speed, never the numbers. Each computation gets its own
/// context, so these tests run beside any other, and two contexts compute at once in one process.
@Suite struct ThreadCountTests {
    static let specs = [TrainerTests.resnet, ModelSpec(architecture: "cnn-small", inputShape: [1, 8, 8], classes: 4)]

    static func train(_ spec: ModelSpec, on compute: ComputeContext) throws -> [String: [UInt32]] {
        let trainer = try Trainer(spec: spec, dataset: TrainerTests.squares, config: TrainerTests.config(epochs: 1, batchSize: 64),
                                  compute: compute)
        try trainer.run()
        return TrainerTests.state(trainer)
    }

    @Test func twoAndThreeThreadsGiveTheSameWeightsAsOne() throws {
        for spec in Self.specs {
            let serial = try Self.train(spec, on: .serial)
            #expect(try Self.train(spec, on: ComputeContext(threads: 2)) == serial, "\(spec.summary), 2 threads")
            #expect(try Self.train(spec, on: ComputeContext(threads: 3)) == serial, "\(spec.summary), 3 threads")
        }
    }

    /// Two trainings at once in one process, on contexts of 1 and 3 threads, each from its own thread:
    /// both end bit-identical to the same training run alone.
    @Test func twoContextsComputeConcurrentlyInOneProcess() async throws {
        let spec = ModelSpec(architecture: "cnn-small", inputShape: [1, 8, 8], classes: 4)
        let alone = try Self.train(spec, on: .serial)
        let outcomes = try await withThrowingTaskGroup(of: [String: [UInt32]].self) { group in
            for threads in [1, 3] {
                group.addTask { try Self.train(spec, on: ComputeContext(threads: threads)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.count == 2 && outcomes.allSatisfy { $0 == alone })
    }

    /// A context's workers stop when it is released: contexts can come and go without leaking threads.
    @Test func releasedContextsStopTheirWorkers() throws {
        let before = try Self.threadCount()
        for _ in 0..<20 {
            let compute = ComputeContext(threads: 4)
            var total = 0
            let lock = NSLock()
            compute.forEachChunk(of: 1000) { range in lock.withLock { total += range.count } }
            #expect(total == 1000)
        }
        // workers exit asynchronously after their context is released
        var after = try Self.threadCount()
        for _ in 0..<100 where after > before + 3 {
            Thread.sleep(forTimeInterval: 0.02)
            after = try Self.threadCount()
        }
        #expect(after <= before + 3, "\(after - before) threads left behind by 20 released contexts of 4")
    }

    /// The process's thread count, from /proc.
    static func threadCount() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count
    }
}
