import AdvNN
import ArgumentParser
import Foundation

/// `advd train`: standard training of a model on a dataset, with progress, checkpoints and resume.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model in the foreground, printing progress and clean test accuracy.",
        discussion: """
            With --out, writes model.safetensors, metrics.json and resumable checkpoints there; run the
            same command again after an interruption and it resumes bit-exactly from the last checkpoint.
            """)

    @Option(help: "fashion-mnist, mnist, cifar10, tsipras or blobs.")
    var dataset = "fashion-mnist"
    @Option(help: "Folder of the dataset's files (default for fashion-mnist: \(Dataset.fashionMNISTFolder)).")
    var dataDir: String?
    @Option(help: "Architecture: \(ModelSpec.architectures.joined(separator: ", ")).")
    var model = "mlp"
    @Option(help: "Hidden layer widths for mlp, comma-separated.")
    var hidden = "256,256"
    @Option var epochs = 10
    @Option var batchSize = 128
    @Option(help: "sgd, adam or adamw.")
    var optimizer = "sgd"
    @Option(name: .customLong("lr"), help: "Base learning rate.")
    var learningRate: Float = 0.05
    @Option var momentum: Float = 0.9
    @Option var weightDecay: Float = 0
    @Option(help: "constant, cosine, one-cycle, or step:E1,E2 (×0.1 at each milestone epoch).")
    var schedule = "cosine"
    @Option var seed: UInt64 = 0
    @Option(help: "BLAS and kernel threads (default: all cores).")
    var threads: Int?
    @Option(help: "Output folder for checkpoints, model and metrics.")
    var out: String?
    @Option(help: "Write a checkpoint every N steps (also at every epoch end).")
    var checkpointEvery: Int?
    @Option(help: "Stop after this many steps (for experiments with interruption).")
    var maxSteps: Int?

    func run() throws {
        try runWithComputeThreads(threads) { try train(on: $0) }
    }

    private func train(on compute: ComputeContext) throws {
        let data = try loadDataset()
        let spec = ModelSpec(architecture: model, inputShape: data.itemShape, classes: data.classCount,
                             hidden: model == "mlp" ? try parseList(hidden, option: "--hidden") : nil)
        var config = TrainingConfig()
        config.epochs = epochs
        config.batchSize = batchSize
        config.seed = seed
        config.checkpointEverySteps = checkpointEvery
        guard let kind = OptimizerConfig.Kind(rawValue: optimizer) else {
            throw ValidationError("--optimizer: expected sgd, adam or adamw, got \(optimizer)")
        }
        config.optimizer.kind = kind
        config.optimizer.learningRate = learningRate
        config.optimizer.momentum = kind == .sgd ? momentum : 0
        config.optimizer.weightDecay = weightDecay
        config.schedule = try parseSchedule(schedule)

        let trainer = try Trainer(spec: spec, dataset: data, config: config,
                                  checkpointFolder: out.map { $0 + "/checkpoints" }, compute: compute)
        print("advd train: \(spec.summary) on \(data.name) (\(data.train.count) train, \(data.test.count) test), " +
              "\(epochs) epochs, batch \(batchSize), \(optimizer) lr \(learningRate), \(threadsText(compute))")
        if let resumed = try trainer.resumeFromLatestCheckpoint() {
            print("resumed from \(resumed) at step \(trainer.cursor.step) of \(trainer.totalSteps)")
        }
        try trainer.run(maximumSteps: maxSteps) { printProgress($0) }
        guard trainer.isFinished else {
            print("stopped after step \(trainer.cursor.step) of \(trainer.totalSteps); run again to resume")
            return
        }
        let accuracy = Metrics.accuracy(of: trainer.model, on: data.test)
        let seconds = trainer.cursor.history.reduce(0) { $0 + $1.seconds }
        print(String(format: "final clean test accuracy %.2f%% (%d examples), training time %.1f s",
                     accuracy * 100, data.test.count, seconds))
        if let out {
            try ModelCheckpoint.save(trainer.model, spec: spec, to: out + "/model.safetensors")
            try writeMetrics(trainer, accuracy: accuracy, threads: compute.threads, to: out + "/metrics.json")
            print("wrote \(out)/model.safetensors and \(out)/metrics.json")
        }
    }

    private func printProgress(_ progress: TrainingProgress) {
        switch progress.event {
        case .step:
            print(String(format: "epoch %d/%d step %d/%d  loss %.4f  acc %.2f%%  %.0f samples/s  lr %.4g",
                         progress.epoch, progress.epochs, progress.stepInEpoch, progress.stepsPerEpoch,
                         progress.loss, progress.accuracy * 100, progress.samplesPerSecond, progress.learningRate))
        case let .epochEnd(metrics):
            print(String(format: "epoch %d/%d done  train loss %.4f  train acc %.2f%%  test acc %.2f%%  %.1f s  %.0f samples/s",
                         metrics.epoch, progress.epochs, metrics.trainLoss, metrics.trainAccuracy * 100,
                         metrics.testAccuracy * 100, metrics.seconds, metrics.samplesPerSecond))
        case .checkpoint:
            break
        }
    }

    private func writeMetrics(_ trainer: Trainer, accuracy: Double, threads: Int, to path: String) throws {
        struct Report: Encodable {
            let model: ModelSpec, config: TrainingConfig, epochs: [EpochMetrics], testAccuracy: Double, threads: Int
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let report = Report(model: trainer.spec, config: trainer.config, epochs: trainer.cursor.history,
                            testAccuracy: accuracy, threads: threads)
        try AtomicFile.write(Array(try encoder.encode(report)), to: path)
    }

    private func loadDataset() throws -> Dataset {
        switch dataset {
        case "fashion-mnist": return try Dataset.fashionMNIST(folder: dataDir ?? Dataset.fashionMNISTFolder)
        case "mnist":
            guard let dataDir else { throw ValidationError("--data-dir: the mnist dataset needs the folder of its IDX files") }
            return try Dataset.idx(name: "mnist", folder: dataDir)
        case "cifar10":
            guard let dataDir else { throw ValidationError("--data-dir: cifar10 needs the cifar-10-batches-bin folder") }
            return try Dataset.cifar10(folder: dataDir)
        case "tsipras":
            return Dataset.tsipras(dimensions: 1000, p: 0.95, eta: 0.1, trainCount: 10_000, testCount: 2_000, seed: seed)
        case "blobs":
            return Dataset.gaussianBlobs(classes: 4, dimensions: 20, separation: 2, spread: 1,
                                         trainCount: 10_000, testCount: 2_000, seed: seed)
        default:
            throw ValidationError("--dataset: expected fashion-mnist, mnist, cifar10, tsipras or blobs, got \(dataset)")
        }
    }

    private func parseList(_ text: String, option: String) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
            throw ValidationError("\(option): expected comma-separated integers, got \"\(text)\"")
        }
        return values.map { $0! }
    }

    private func parseSchedule(_ text: String) throws -> LearningRateSchedule {
        switch text {
        case "constant": return .constant
        case "cosine": return .cosine(minimum: 0)
        case "one-cycle": return .oneCycle(peakFraction: 0.4)
        case _ where text.hasPrefix("step:"):
            return .step(milestones: try parseList(String(text.dropFirst(5)), option: "--schedule"), gamma: 0.1)
        default:
            throw ValidationError("--schedule: expected constant, cosine, one-cycle or step:E1,E2, got \(text)")
        }
    }
}
