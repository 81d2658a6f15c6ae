import AdvNN
import AdvTestSupport
import Foundation
import Testing

/// The moving average of the weights: its update rule step by step (BatchNorm statistics included),
/// exact resumption, and that validation and the output model are the average's.
@Suite struct WeightAveragingTests {
    static let squares = ToyData.squares(trainCount: 160, testCount: 80).holdingOutValidation(32)

    static func config(decay: Float = 0.9) -> TrainingConfig {
        var config = TrainerTests.config(epochs: 2)
        config.weightAveraging = WeightAveraging(decay: decay)
        return config
    }

    static func bits(_ model: Sequential) -> [String: [UInt32]] {
        Dictionary(uniqueKeysWithValues: ModelCheckpoint.stateTensors(of: model).map { ($0.name, $0.tensor.scalars.map(\.bitPattern)) })
    }

    @Test func decayWarmsUpToItsValue() {
        let averaging = WeightAveraging(decay: 0.999)
        #expect(averaging.currentDecay(afterSteps: 1) == Float(2) / 11)
        #expect(averaging.currentDecay(afterSteps: 90) == Float(91) / 100)
        #expect(averaging.currentDecay(afterSteps: 1_000_000) == 0.999)
        expectError(containing: ["weightAveraging.decay", "(0, 1)", "got 1.0"]) { try WeightAveraging(decay: 1).validate() }
        expectError(containing: ["weightAveraging.decay"]) { try WeightAveraging(decay: 0).validate() }
    }

    /// After each step, every averaged tensor (weights and BatchNorm running statistics) is
    /// keep·average + (1 − keep)·live, bit for bit; the first average is the initial weights.
    @Test func theAverageFollowsTheRuleAfterEveryStep() throws {
        let trainer = try Trainer(spec: TrainerTests.resnet, dataset: Self.squares, config: Self.config())
        #expect(trainer.outputModel !== trainer.model)
        var average = Self.bits(trainer.model)
        #expect(Self.bits(trainer.outputModel) == average)
        #expect(average.keys.contains { $0.hasSuffix("running_mean") })
        for step in 1...6 {
            try trainer.run(maximumSteps: 1)
            let keep = trainer.config.weightAveraging!.currentDecay(afterSteps: step), take = 1 - keep
            let live = Self.bits(trainer.model)
            for (name, values) in live {
                average[name] = zip(average[name]!, values).map { previous, current in
                    (keep * Float(bitPattern: previous) + take * Float(bitPattern: current)).bitPattern
                }
            }
            #expect(Self.bits(trainer.outputModel) == average, "after step \(step)")
        }
        #expect(Self.bits(trainer.outputModel) != Self.bits(trainer.model))
    }

    @Test func withoutAveragingTheOutputIsTheTrainedModel() throws {
        let trainer = try Trainer(spec: TrainerTests.mlp, dataset: TrainerTests.blobs, config: TrainerTests.config(epochs: 1))
        #expect(trainer.outputModel === trainer.model)
    }

    /// Validation after each epoch measures the average, the model the run reports.
    @Test func validationMeasuresTheAverage() throws {
        let trainer = try Trainer(spec: TrainerTests.resnet, dataset: Self.squares, config: Self.config(decay: 0.99))
        try trainer.run()
        let last = try #require(trainer.cursor.history.last?.validationAccuracy)
        #expect(last == Metrics.accuracy(of: trainer.outputModel, on: Self.squares.validation))
    }

    /// The checkpoint carries the average (`average.<name>`), so a resumed run ends bit-identical.
    @Test func resumingKeepsTheAverageBitIdentical() throws {
        let config = Self.config()
        let straight = try Trainer(spec: TrainerTests.resnet, dataset: Self.squares, config: config)
        try straight.run()
        let folder = TemporaryFolder()
        try Trainer(spec: TrainerTests.resnet, dataset: Self.squares, config: config, checkpointFolder: folder.path).run(maximumSteps: 3)
        let saved = try SafeTensors.read(from: try #require(Trainer.checkpoints(in: folder.path).last))
        #expect(saved.tensors.keys.contains("average.0.weight"))
        let resumed = try Trainer(spec: TrainerTests.resnet, dataset: Self.squares, config: config, checkpointFolder: folder.path)
        #expect(try resumed.resumeFromLatestCheckpoint() != nil)
        try resumed.run()
        #expect(Self.bits(resumed.outputModel) == Self.bits(straight.outputModel))
        #expect(Self.bits(resumed.model) == Self.bits(straight.model))
        #expect(TrainerTests.outcomes(resumed) == TrainerTests.outcomes(straight))
    }

    /// A checkpoint that lacks the average (written by another configuration) is refused by name.
    @Test func aCheckpointWithoutTheAverageIsRefused() throws {
        let folder = TemporaryFolder()
        let trainer = try Trainer(spec: TrainerTests.resnet, dataset: Self.squares, config: Self.config(), checkpointFolder: folder.path)
        try trainer.run(maximumSteps: 2)
        let path = try #require(Trainer.checkpoints(in: folder.path).last)
        var file = try SafeTensors.read(from: path)
        file.tensors["average.0.weight"] = nil
        try file.write(to: path)
        let resumed = try Trainer(spec: TrainerTests.resnet, dataset: Self.squares, config: Self.config(), checkpointFolder: folder.path)
        expectError(containing: [path, "weight-average tensor average.0.weight missing"]) { try resumed.resumeFromLatestCheckpoint() }
    }
}
