import AdvNN
import AdvRobust
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

    @Option(help: ArgumentHelp("The data set: \(Registries.standard.datasets.names.joined(separator: ", ")).", valueName: "name"))
    var dataset = "fashion-mnist"
    @Option(help: "Folder of the dataset's files (its `path`; fashion-mnist defaults to \(Dataset.fashionMNISTFolder)).")
    var dataDir: String?
    @Option(help: ArgumentHelp("Architecture: \(Registries.standard.architectures.names.joined(separator: ", ")).", valueName: "name"))
    var model = "mlp"
    @Option(help: "Hidden layer widths, comma-separated (architectures with a `hidden` option).")
    var hidden: String?
    @Option(help: "Convolution channels, comma-separated (cnn-small's two convolutions, preact-resnet's stages).")
    var widths: String?
    @Option(help: ArgumentHelp("Nonlinearity after hidden layers (and BN): \(Activation.allCases.map(\.rawValue).joined(separator: ", ")) (mlp, cnn-small, preact-resnet; default relu).", valueName: "name"))
    var activation: String?
    @Option var epochs = 10
    @Option var batchSize = 128
    @Option(help: ArgumentHelp("Optimiser: \(Registries.standard.optimizers.names.joined(separator: ", ")).", valueName: "name"))
    var optimizer = "sgd"
    @Option(name: .customLong("lr"), help: "Base learning rate (default: the optimiser's).")
    var learningRate: Float?
    @Option(help: "Momentum (optimisers with momentum; default: the optimiser's).")
    var momentum: Float?
    @Option(help: "Weight decay (default 0).")
    var weightDecay: Float?
    @Option(help: ArgumentHelp("Schedule: \(Registries.standard.schedules.names.joined(separator: ", ")), or step:E1,E2 (×0.1 at each milestone epoch).", valueName: "name"))
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
        let registries = Registries.standard
        let data = try registries.datasets.make(try part(registries.datasets, option: "--dataset", dataset, ["path": dataDir]),
                                                context: NoContext()).loadUntrimmed(seed: seed)
        let architecture = try part(registries.architectures, option: "--model", model,
                                    ["hidden": try hidden.map { try parseList($0, option: "--hidden") },
                                     "widths": try widths.map { try parseList($0, option: "--widths") },
                                     "activation": activation])
        let spec = try registries.architectures.make(architecture, context: NoContext())
            .spec(inputShape: data.itemShape, classes: data.classCount)
        var config = TrainingConfig()
        config.epochs = epochs
        config.batchSize = batchSize
        config.seed = seed
        config.checkpointEverySteps = checkpointEvery
        config.optimizer = try registries.optimizers.make(
            try part(registries.optimizers, option: "--optimizer", optimizer,
                     ["lr": learningRate.map { Double($0) }, "momentum": momentum.map { Double($0) },
                      "weight_decay": weightDecay.map { Double($0) }]),
            context: NoContext())
        let milestones = schedule.hasPrefix("step:") ? try parseList(String(schedule.dropFirst(5)), option: "--schedule") : nil
        config.schedule = try registries.schedules.make(
            try part(registries.schedules, option: "--schedule", milestones == nil ? schedule : "step", ["milestones": milestones]),
            context: NoContext())

        let trainer = try Trainer(spec: spec, dataset: data, config: config,
                                  checkpointFolder: out.map { $0 + "/checkpoints" }, compute: compute)
        print("advd train: \(spec.summary) on \(data.name) (\(data.train.count) train, \(data.test.count) test), " +
              "\(Wording.counted(epochs, "epoch")), batch \(batchSize), \(optimizer) lr \(config.optimizer.learningRate), \(threadsText(compute))")
        print("machine: \(ComputeProvenance.current(threads: compute.threads).summary)")
        if let resumed = try trainer.resumeFromLatestCheckpoint() {
            print("resumed from \(resumed) at step \(trainer.cursor.step) of \(trainer.totalSteps)")
        }
        try trainer.run(maximumSteps: maxSteps) { printProgress($0) }
        guard trainer.isFinished else {
            let resume = out.map { "its checkpoint is in \($0)/checkpoints; run the same command again to resume from it" }
                ?? "nothing was saved (no --out), so running again starts from step 0"
            print("stopped after step \(trainer.cursor.step) of \(trainer.totalSteps); \(resume)")
            return
        }
        let accuracy = Metrics.accuracy(of: trainer.outputModel, on: data.test)
        let seconds = trainer.cursor.history.reduce(0) { $0 + $1.seconds }
        print(String(format: "final clean test accuracy %.2f%% (%d examples), training time %.1f s",
                     accuracy * 100, data.test.count, seconds))
        if let out {
            try ModelCheckpoint.save(trainer.outputModel, spec: spec, to: out + "/model.safetensors")
            try writeMetrics(trainer, accuracy: accuracy, threads: compute.threads, to: out + "/metrics.json")
            print("wrote \(out)/model.safetensors and \(out)/metrics.json")
        }
    }

    private func printProgress(_ progress: TrainingProgress) {
        switch progress.event {
        case .step:
            print(progress.stepSummary + String(format: "  lr %.4g", progress.learningRate))
        case let .epochEnd(metrics):
            print("epoch \(metrics.epoch)/\(progress.epochs) done  " + metrics.summary(separator: "  ")
                  + String(format: "  %.0f samples/s", metrics.samplesPerSecond))
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

    /// The part `name` of `registry`, with the options given (nil: not given) as its keys, decoded and
    /// checked exactly as a manifest's would be; an option the part does not take is an error.
    private func part<Part>(_ registry: Registry<Part, NoContext>, option: String, _ name: String,
                            _ options: [String: (any Sendable)?]) throws -> PartSpec {
        var object: [String: Any] = ["name": name]
        for case let (key, value?) in options { object[key] = value }
        let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        let node = try ManifestNode.document(yaml: String(decoding: json, as: UTF8.self), source: "advd train \(option)")
        do {
            return try registry.decode(node, context: NoContext())
        } catch let error as ManifestError {
            // say it in the command line's words: the flag, not the manifest key
            let key = String(error.path.prefix { $0 != "[" })   // hidden[1] is --hidden's second width
            let flag = key == "name" ? option : Self.flags[key] ?? option
            let message = error.message == "missing (required)" ? "required for \(registry.kind) \(name)" : error.message
            throw ValidationError("\(flag): \(message)")
        }
    }

    /// The flag that sets each key `part` is given.
    private static let flags = ["path": "--data-dir", "hidden": "--hidden", "widths": "--widths", "activation": "--activation", "lr": "--lr", "momentum": "--momentum",
                                "weight_decay": "--weight-decay", "milestones": "--schedule"]

    /// "16,32" → [16, 32].
    /// - Throws: `ValidationError` naming `option` when an item is not an integer.
    private func parseList(_ text: String, option: String) throws -> [Int] {
        try text.split(separator: ",", omittingEmptySubsequences: false).map {
            guard let value = Int($0.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("\(option): expected comma-separated integers, got \"\(text)\"")
            }
            return value
        }
    }
}
