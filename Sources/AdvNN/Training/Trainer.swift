import Foundation

/// The training loop: shuffles, batches, steps a `TrainingMethod`, evaluates clean accuracy after every
/// epoch, reports progress and writes resumable checkpoints.
///
/// Determinism: the model is initialised from the stream ("init", seed); epoch e's order is a
/// permutation drawn from ("shuffle", seed, e) (a pseudo-labelled pool's from ("pool-shuffle", seed,
/// e)); the augmentation's views and the method's draws come from the saved "training" stream.
/// So the same seed and BLAS thread count give bit-identical weights, and a run resumed from any
/// checkpoint (taken mid-epoch or at an epoch's end) ends bit-identical to one never interrupted.
///
/// With `config.weightAveraging`, the trainer also keeps a moving average of the weights
/// (`WeightAveraging`); `outputModel` is then that average, and validation measures it.
///
/// Checkpoints go to `checkpointFolder/step-NNNNNNNN.safetensors`: the model's tensors under their
/// PyTorch names, the optimiser's as `optimizer.<buffer>.<name>`, the weight average's as
/// `average.<name>`, and the cursor, configuration and model specification as JSON in `__metadata__`.
/// The newest two are kept.
public final class Trainer {
    /// The model the optimiser trains.
    public let model: Sequential
    public let spec: ModelSpec
    public let dataset: Dataset
    /// Robust self-training's pseudo-labelled examples (labels are the teacher's predictions); nil: none.
    public let pool: DataSplit?
    public let config: TrainingConfig
    public let optimizer: any Optimizer
    public private(set) var method: any TrainingMethod
    public private(set) var cursor = TrainingCursor()
    /// Where checkpoints are written; nil: none are.
    public var checkpointFolder: String?
    /// Steps between `.step` progress reports.
    public var progressInterval = 50
    /// The checkpoints the last `resumeFromLatestCheckpoint` passed over (newest first), and why.
    public internal(set) var skippedCheckpoints: [(path: String, reason: String)] = []

    /// The moving average of `model`'s weights; nil when the configuration keeps none.
    let averaged: AveragedModel?
    private var trainingRandom: RandomStream
    private let batch = Tensor(zeros: Shape(0))
    private var batchLabels: [Int] = []
    /// One image, while `config.augmentation` replaces a batch image by its view.
    private let augmentationScratch = Tensor(zeros: Shape(0))
    /// The batch's examples, as `TrainingPosition.examples` numbers them.
    private var batchExamples: [Int] = []
    private var order: [Int] = []
    private var poolOrder: [Int] = []
    private var orderEpoch = -1
    private let plan: EpochBatchPlan
    /// The optimiser a pseudo-labelled batch steps through (weights its gradient); nil without a pool.
    private let poolOptimizer: (any Optimizer)?

    /// A fresh run: builds the model from `spec` with the seed's "init" stream.
    /// - Parameters:
    ///   - pool: pseudo-labelled examples mixed in as `config.pseudoLabeled` says (both or neither).
    ///   - compute: the threads the model and the optimiser compute on (results do not depend on them).
    /// - Throws: `TrainingError` or `ModelError` for an invalid configuration or a model that does not
    ///   fit the dataset.
    public init(spec: ModelSpec, dataset: Dataset, config: TrainingConfig,
                method: any TrainingMethod = StandardTraining(), checkpointFolder: String? = nil,
                pool: DataSplit? = nil, compute: ComputeContext = .serial) throws {
        try config.validate()
        guard spec.inputShape == dataset.itemShape else {
            throw TrainingError("model input shape \(spec.inputShape) does not match \(dataset.name) examples \(dataset.itemShape)")
        }
        guard spec.classes == dataset.classCount else {
            throw TrainingError("model has \(spec.classes) classes but \(dataset.name) has \(dataset.classCount)")
        }
        guard dataset.train.count > 0 else { throw TrainingError("\(dataset.name) has no training examples") }
        try config.augmentation?.validate(itemShape: dataset.itemShape)
        switch (config.pseudoLabeled, pool) {
        case (nil, nil): break
        case (nil, _?): throw TrainingError("a pseudo-labelled pool was given but the configuration does not say how to mix it")
        case (_?, nil): throw TrainingError("the configuration mixes in pseudo-labelled batches but no pool was given")
        case (_?, let pool?):
            guard pool.count > 0 else { throw TrainingError("the pseudo-labelled pool is empty") }
            guard pool.itemShape == dataset.itemShape else {
                throw TrainingError("pseudo-labelled pool examples \(pool.itemShape) do not match \(dataset.name) examples \(dataset.itemShape)")
            }
        }
        var initRandom = RandomStream(seed: config.seed, purpose: "init")
        let model = try spec.build(rng: &initRandom)
        model.compute = compute
        self.model = model
        self.spec = spec
        self.dataset = dataset
        self.config = config
        self.method = method
        self.checkpointFolder = checkpointFolder
        let frozen = Set(config.frozenLayers ?? []), layerCount = model.layers.count
        if let outside = frozen.first(where: { $0 < 0 || $0 >= layerCount }) {
            throw TrainingError("frozen layer \(outside) does not exist: the model has layers 0…\(layerCount - 1)")
        }
        // frozen layers' parameters are left out of the optimiser, so no update ever reaches them
        let trainable = model.namedParameters.filter { named in !frozen.contains { named.name.hasPrefix("\($0).") } }
        let optimizer = config.optimizer.make(for: trainable)
        optimizer.compute = compute
        self.optimizer = optimizer
        self.pool = pool
        plan = EpochBatchPlan(labeledCount: dataset.train.count, poolCount: pool?.count ?? 0,
                              batchSize: config.batchSize, ratio: config.pseudoLabeled?.ratio ?? 1)
        poolOptimizer = config.pseudoLabeled.map { GradientWeightingOptimizer(optimizer, weight: $0.weight) }
        averaged = try config.weightAveraging.map { try AveragedModel(following: model, spec: spec, averaging: $0) }
        trainingRandom = RandomStream(seed: config.seed, purpose: "training")
        cursor.method = method.name
    }

    /// The model the run produces, which validation measures after every epoch: the moving average of
    /// the weights when the configuration keeps one, else the trained model itself.
    public var outputModel: Sequential { averaged?.model ?? model }

    /// Tells the trainer that `model`'s weights were set from outside (loaded to initialise a run): the
    /// weight average restarts from them.
    public func weightsWereReplaced() {
        averaged?.restart()
    }

    /// Optimisation steps per epoch: one pass over the labelled split (its last batch may be smaller),
    /// plus the pseudo-labelled batches mixed in.
    public var stepsPerEpoch: Int { plan.stepsPerEpoch }
    /// Steps in the whole run.
    public var totalSteps: Int { stepsPerEpoch * config.epochs }
    /// Whether every epoch has run.
    public var isFinished: Bool { cursor.step >= totalSteps || cursor.stoppedEarly != nil }

    /// Validation examples a method may watch after each epoch (never trained on).
    public var heldOutExamples = 512
    /// Measures robust accuracy on the held-out examples after each epoch (AdvNN knows no attacks:
    /// the caller supplies one). It must draw randomness only from its own stream for `epoch`, so
    /// that measuring never changes training. nil: not measured.
    public var heldOutProbe: ((_ model: Sequential, _ heldOut: (inputs: Tensor, labels: [Int]), _ epoch: Int) -> Double)?

    /// Trains until the run is finished, until `maximumSteps` more steps have run, or until `shouldStop`
    /// (asked before every step) says so; either stop writes a checkpoint of where it stopped (when
    /// the trainer has a checkpoint folder), so no step is lost and the run resumes there.
    /// - Returns: the metrics of every finished epoch.
    /// - Throws: `TrainingError` when the loss stops being finite; `CheckpointError` when a checkpoint
    ///   cannot be written.
    @discardableResult
    public func run(maximumSteps: Int? = nil, progress: (TrainingProgress) -> Void = { _ in },
                    shouldStop: () -> Bool = { false }) throws -> [EpochMetrics] {
        var stepsThisCall = 0
        while !isFinished && stepsThisCall < (maximumSteps ?? Int.max) {
            if shouldStop() {
                if let path = try writeCheckpoint() {
                    progress(report(.checkpoint(path), epoch: cursor.step / stepsPerEpoch, stepInEpoch: cursor.step % stepsPerEpoch))
                }
                break
            }
            let epoch = cursor.step / stepsPerEpoch, position = cursor.step % stepsPerEpoch
            prepareOrder(forEpoch: epoch)
            let stepOptimizer = gatherBatch(plan.source(ofStep: position))
            let examples = batchLabels.count
            // the views come from the training stream before the method draws: a resumed run sees the same
            let views = config.augmentation?.drawViews(count: examples, rng: &trainingRandom) ?? []
            if !views.isEmpty { ImageAugmentation.apply(views, to: batch, scratch: augmentationScratch) }
            optimizer.learningRate = config.schedule.rate(base: config.optimizer.learningRate, step: cursor.step,
                                                          stepsPerEpoch: stepsPerEpoch, totalEpochs: config.epochs)
            let started = DispatchTime.now().uptimeNanoseconds
            let stepPosition = TrainingPosition(epoch: Double(cursor.step) / Double(stepsPerEpoch), totalEpochs: config.epochs,
                                                examples: batchExamples, exampleCount: dataset.train.count + (pool?.count ?? 0),
                                                views: views)
            let result = method.step(model: model, inputs: batch, labels: batchLabels, optimizer: stepOptimizer,
                                     rng: &trainingRandom, position: stepPosition)
            averaged?.update(afterSteps: cursor.step + 1)
            cursor.epochSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            guard result.loss.isFinite else {
                throw TrainingError("training loss became \(result.loss) at step \(cursor.step + 1) (epoch \(epoch + 1)); lower the learning rate")
            }
            cursor.step += 1
            stepsThisCall += 1
            cursor.epochLossSum += Double(result.loss) * Double(examples)
            cursor.epochCorrect += result.correct
            cursor.epochSeen += examples
            if position + 1 == stepsPerEpoch {
                cursor.stoppedEarly = method.endEpoch(epoch + 1, model: model, heldOut: heldOutBatch, rng: &trainingRandom)
                // the method that stops early (fast AT's guard) rolls the live model back to its best
                // epoch; an average that kept the discarded weights would report a model it rejected
                if cursor.stoppedEarly != nil { averaged?.restart() }
                let metrics = finishEpoch(epoch)
                progress(report(.epochEnd(metrics), epoch: epoch, stepInEpoch: stepsPerEpoch, metrics: metrics))
                if let path = try writeCheckpoint() { progress(report(.checkpoint(path), epoch: epoch, stepInEpoch: stepsPerEpoch)) }
            } else {
                if (position + 1) % progressInterval == 0 { progress(report(.step, epoch: epoch, stepInEpoch: position + 1)) }
                let isRegular = config.checkpointEverySteps.map { cursor.step % $0 == 0 } ?? false
                // a stop after `maximumSteps` saves where it stopped, as a stop on request does
                let isLastOfThisCall = stepsThisCall == maximumSteps
                if isRegular || isLastOfThisCall, let path = try writeCheckpoint() {
                    progress(report(.checkpoint(path), epoch: epoch, stepInEpoch: position + 1))
                }
            }
        }
        return cursor.history
    }

    /// The training stream's state, as checkpoints store it.
    var trainingRandomState: [UInt64] {
        get { trainingRandom.stateWords }
        set { trainingRandom = RandomStream(stateWords: newValue) }
    }

    /// Continues from a restored cursor; the epoch's order is recomputed on the next step.
    func restoreCursor(_ restored: TrainingCursor) {
        cursor = restored
        orderEpoch = -1
    }

    /// Epoch e's example orders, drawn from their own streams so that a resumed run recreates them.
    private func prepareOrder(forEpoch epoch: Int) {
        guard orderEpoch != epoch else { return }
        func permutation(_ order: inout [Int], count: Int, purpose: String) {
            order.removeAll(keepingCapacity: true)
            order.append(contentsOf: 0..<count)
            var shuffle = RandomStream(seed: config.seed, purpose: purpose, index: epoch)
            shuffle.shuffleInPlace(&order)
        }
        permutation(&order, count: dataset.train.count, purpose: "shuffle")
        if let pool { permutation(&poolOrder, count: pool.count, purpose: "pool-shuffle") }
        orderEpoch = epoch
    }

    /// Gathers the step's examples into `batch`, `batchLabels` and `batchExamples`.
    /// - Returns: the optimiser the step updates through (a pseudo-labelled batch's weights its gradient).
    private func gatherBatch(_ source: EpochBatchPlan.Source) -> any Optimizer {
        switch source {
        case .labeled(let range):
            dataset.train.gather(order[range], into: batch, labels: &batchLabels)
            batchExamples.replaceSubrange(batchExamples.indices, with: order[range])
            return optimizer
        case .pool(let range):
            let pool = pool!, start = range.lowerBound % pool.count
            // when the pool is smaller than an epoch's share of it, wrap around its permutation
            let chosen = start + range.count <= pool.count ? poolOrder[start..<start + range.count]
                : ArraySlice(range.map { poolOrder[$0 % pool.count] })
            pool.gather(chosen, into: batch, labels: &batchLabels)
            batchExamples.replaceSubrange(batchExamples.indices, with: chosen.lazy.map { self.dataset.train.count + $0 })
            return poolOptimizer!
        }
    }

    /// The first `heldOutExamples` validation examples (none when the dataset has no validation split).
    private func heldOutBatch() -> (inputs: Tensor, labels: [Int]) {
        dataset.validation.batch(0..<min(heldOutExamples, dataset.validation.count))
    }

    private func finishEpoch(_ epoch: Int) -> EpochMetrics {
        let validation = config.evaluationExamples.map { dataset.validation.prefix($0) } ?? dataset.validation
        let hasValidation = validation.count > 0
        let robust = hasValidation ? heldOutProbe.map { $0(outputModel, heldOutBatch(), epoch + 1) } : nil
        let metrics = EpochMetrics(
            epoch: epoch + 1,
            trainLoss: cursor.epochLossSum / Double(max(cursor.epochSeen, 1)),
            trainAccuracy: Double(cursor.epochCorrect) / Double(max(cursor.epochSeen, 1)),
            validationAccuracy: hasValidation ? Metrics.accuracy(of: outputModel, on: validation) : nil,
            heldOutRobustAccuracy: robust,
            learningRate: optimizer.learningRate,
            seconds: cursor.epochSeconds,
            samplesPerSecond: Double(cursor.epochSeen) / max(cursor.epochSeconds, 1e-9))
        cursor.history.append(metrics)
        cursor.epochLossSum = 0
        cursor.epochCorrect = 0
        cursor.epochSeen = 0
        cursor.epochSeconds = 0
        return metrics
    }

    private func report(_ event: TrainingProgress.Event, epoch: Int, stepInEpoch: Int,
                        metrics: EpochMetrics? = nil) -> TrainingProgress {
        let seen = Double(max(cursor.epochSeen, 1))
        return TrainingProgress(
            event: event, epoch: epoch + 1, epochs: config.epochs, stepInEpoch: stepInEpoch,
            stepsPerEpoch: stepsPerEpoch,
            loss: metrics?.trainLoss ?? cursor.epochLossSum / seen,
            accuracy: metrics?.trainAccuracy ?? Double(cursor.epochCorrect) / seen,
            samplesPerSecond: metrics?.samplesPerSecond ?? Double(cursor.epochSeen) / max(cursor.epochSeconds, 1e-9),
            learningRate: optimizer.learningRate)
    }
}
