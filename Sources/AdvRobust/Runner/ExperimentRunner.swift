/// The foreground experiment runner behind `advd run MANIFEST --out DIR`: load the data, train (or
/// load) the model, evaluate it, and write the results.
///
/// Output folder:
///   checkpoints/step-NNNNNNNN.safetensors   resumable training state (the newest two)
///   model.safetensors                       the trained weights (PyTorch names, architecture in metadata)
///   evaluation-state.json                   the evaluation's progress, saved after every batch
///   adversarial-log.bin                     the broken examples' adversarial inputs, appended after every batch
///   adversarial.safetensors                 every evaluated example's worst-case input (AdversarialExamples)
///   manifest.yaml                           the manifest normalised (every default filled in): `advd run` reads it as it is
///   metrics.json                            configuration echo, per-epoch metrics, results, warnings, timings
///   report.md                               the threat model as a reproducible claim, and the results
///   report.html, examples/                  the same with charts and example images (HTMLReport, ExampleGrid)
/// Run again on the same folder after an interruption and it resumes where it stopped — in training or
/// in evaluation — and ends with bit-identical results.
import AdvNN
import AdvVersion
import Foundation

/// The stages of a run, in order (a run without a teacher or a detector skips theirs).
public enum RunPhase: Sendable, Equatable {
    /// Reading the data set, weights or checkpoints.
    case loading
    /// Training self-training's teacher.
    case teacher
    /// Self-training: the teacher labels the unlabelled pool.
    case pseudoLabelling
    case training
    /// Calibrating (and training) the detector.
    case calibratingDetector
    /// Attack `attack` (from 1) of the battery's `attacks`.
    case evaluating(attack: Int, of: Int)
    /// The accuracy-over-ε curve.
    case epsilonCurve
    case sanityChecks
    /// Writing the metrics and the report.
    case writing
}

/// What a running experiment reports.
public enum RunProgress {
    /// The work each stage will take, sent once the data is loaded (before any other stage).
    case plan(WorkPlan)
    /// A new stage begins (or resumes); the text says what it is doing, for people.
    case phase(RunPhase, String)
    case training(TrainingProgress)
    /// Attack `attack` (from 1) of `attacks`, named `name`, finished batch `batch` of `batches`.
    case evaluation(attack: Int, attacks: Int, name: String, batch: Int, batches: Int)
}

/// Everything a finished run produced.
public struct RunResult {
    public var metrics: RunMetrics
    public var outputFolder: String
}

public struct ExperimentRunner {
    public let manifest: ExperimentManifest
    public let outputFolder: String
    /// Asked before every training step and after every evaluation batch: true stops the run at that
    /// point (training writes a checkpoint first) and `run` throws `RunInterrupted`; running again resumes.
    public var shouldStop: @Sendable () -> Bool = { false }
    /// The daemon's job folders, where `job:<id>` weights live (`<jobsFolder>/<id>/model.safetensors`);
    /// nil outside the daemon, where weights are given by path.
    public var jobsFolder: String?
    /// Where the manifest's attacks, defenses, detectors and training methods are built from (the
    /// registries it was parsed with).
    public var registries = Registries.standard
    /// The threads the run computes on (its results do not depend on them).
    public var compute = ComputeContext.serial
    /// How errors about the manifest's content name it: its file name, or another label of where it
    /// came from (as `ManifestError.source`).
    public var manifestSource = "the manifest"

    public init(manifest: ExperimentManifest, outputFolder: String) {
        self.manifest = manifest
        self.outputFolder = outputFolder
    }

    var checkpointFolder: String { outputFolder + "/checkpoints" }
    var modelPath: String { outputFolder + "/model.safetensors" }
    var evaluationStatePath: String { outputFolder + "/evaluation-state.json" }
    var adversarialPath: String { outputFolder + "/adversarial.safetensors" }

    /// Runs the experiment, resuming from whatever the output folder already holds.
    /// - Throws: `DatasetError`, `ModelError`, `TrainingError`, `CheckpointError` or `RunError`, each
    ///   naming the file and the problem; `ManifestError` (naming `manifestSource` and the key) where the
    ///   manifest's model or augmentation does not fit the loaded data.
    public func run(progress: (RunProgress) -> Void = { _ in }) throws -> RunResult {
        let started = Date()
        try createFolder(outputFolder)
        try AtomicFile.write(Array(manifest.normalisedYAML().utf8), to: outputFolder + "/manifest.yaml")
        progress(.phase(.loading, "loading \(manifest.dataset.name)"))
        let recipe = try registries.datasets.make(manifest.dataset, context: NoContext())
        let fullData = try recipe.loadUntrimmed(seed: manifest.seed,
                                                trainingExamplesNeeded: manifest.selfTraining?.trainingExamplesNeeded ?? 0)
        let data = manifest.dataset.trimmed(fullData)
        progress(.plan(try workPlan(data: data)))
        let prepared = try prepareModel(data: data, fullTraining: fullData.train, progress: progress)
        let model = prepared.classifier
        let trained = Date()

        let detector = try manifest.detector.map {
            progress(.phase(.calibratingDetector, "calibrating the \($0.name) detector"))
            return try registries.detectors.make($0, context: NoContext())
                .detector(for: model, data: data, threatModel: manifest.threatModel, seed: manifest.seed)
        }
        let defense = try manifest.defense.map {
            try registries.defenses.make($0, context: recipe.defenseContext(name: manifest.dataset.name))
        }
        let target = EvaluationTarget(model: model, defense: defense, detector: detector)
        let (report, examples, earlierSeconds) = try evaluate(target, data: data, progress: progress)
        let metrics = RunMetrics(
            advdVersion: AdvdVersion.current, manifest: manifest, model: prepared.spec,
            dataset: DatasetSummary(name: data.name, trainExamples: data.train.count,
                                    validationExamples: data.validation.count, testExamples: data.test.count,
                                    classes: data.classNames),
            epochs: prepared.history, trainingStoppedEarly: prepared.stoppedEarly, selfTraining: prepared.selfTraining,
            evaluation: report, examples: examples,
            timings: Timings(trainingSeconds: prepared.trainingSeconds,
                             evaluationSeconds: earlierSeconds + Date().timeIntervalSince(trained),
                             totalSeconds: Date().timeIntervalSince(started)),
            threads: compute.threads, machine: .current(threads: compute.threads))
        try AtomicFile.write(Array(metrics.json().utf8), to: outputFolder + "/metrics.json")
        try AtomicFile.write(Array(MarkdownReport(metrics: metrics).markdown().utf8), to: outputFolder + "/report.md")
        try AtomicFile.write(Array(HTMLReport(metrics: metrics).html().utf8), to: outputFolder + "/report.html")
        return RunResult(metrics: metrics, outputFolder: outputFolder)
    }

    /// The model the evaluation attacks, and how training went.
    struct PreparedModel {
        var classifier: ModelClassifier
        var spec: ModelSpec
        var history: [EpochMetrics] = []
        var trainingSeconds: Double = 0
        var stoppedEarly: String?
        var selfTraining: SelfTrainingSummary?
    }

    /// Trains the model (resuming from checkpoints), or loads it when the manifest has no training.
    /// - Parameter fullTraining: the training split before `train_examples` trimmed it (self-training's pool).
    private func prepareModel(data: Dataset, fullTraining: DataSplit, progress: (RunProgress) -> Void) throws -> PreparedModel {
        guard let config = manifest.train else {
            let path = try resolveWeights(manifest.model.weights!)
            progress(.phase(.loading, "loading weights \(path)"))
            let (model, spec) = try manifest.model.architecture.map { try loadNamedArchitecture($0, from: path, data: data) }
                ?? loadFittingModel(path, data: data)
            try ModelCheckpoint.save(model, spec: spec, to: modelPath)
            return PreparedModel(classifier: ModelClassifier(model, classCount: spec.classes), spec: spec)
        }
        guard let architecture = manifest.model.architecture else {
            throw RunError("model.architecture is missing: training builds an architecture (weights only initialise it)")
        }
        let spec = try modelSpec(architecture, for: data)
        if let augmentation = config.augmentation { try checkAugmentation(augmentation, for: data) }
        var pool: DataSplit?, selfTraining: SelfTrainingSummary?
        if let selfTrainingSpec = manifest.selfTraining {
            (pool, selfTraining) = try pseudoLabeledPool(selfTrainingSpec, spec: spec, data: data, fullTraining: fullTraining,
                                                          config: config, progress: progress)
        }
        let trainer = try Trainer(spec: spec, dataset: data, config: config,
                                  method: try registries.trainingMethods.make(manifest.trainingMethod,
                                                                              context: TrainingMethodContext(threatModel: manifest.threatModel)),
                                  checkpointFolder: checkpointFolder, pool: pool, compute: compute)
        trainer.heldOutProbe = pgdHeldOutProbe(threatModel: manifest.threatModel, seed: manifest.seed)
        let resumed = try trainer.resumeFromLatestCheckpoint()
        reportSkippedCheckpoints(of: trainer, progress: progress)
        if let resumed {
            progress(.phase(.training, "resumed training from \(resumed) at step \(trainer.cursor.step) of \(trainer.totalSteps)"))
        } else if let weights = manifest.model.weights {
            try initialise(trainer.model, spec: spec, from: try resolveWeights(weights), progress: progress)
            trainer.weightsWereReplaced()
        }
        if !trainer.isFinished {
            progress(.phase(.training, "training \(spec.summary) for \(Wording.counted(config.epochs, "epoch")) (\(manifest.trainingMethod.name))"))
            try trainer.run(progress: { progress(.training($0)) }, shouldStop: shouldStop)
            guard trainer.isFinished else { throw RunInterrupted(stage: "training, at step \(trainer.cursor.step) of \(trainer.totalSteps)") }
        }
        if let reason = trainer.cursor.stoppedEarly { progress(.phase(.training, "training stopped early: \(reason)")) }
        try ModelCheckpoint.save(trainer.outputModel, spec: spec, to: modelPath)
        return PreparedModel(classifier: ModelClassifier(trainer.outputModel, classCount: spec.classes), spec: spec,
                             history: trainer.cursor.history,
                             trainingSeconds: trainer.cursor.history.reduce(0) { $0 + $1.seconds },
                             stoppedEarly: trainer.cursor.stoppedEarly, selfTraining: selfTraining)
    }

    /// Says which checkpoints a resume passed over and why (truncated, or corrupt by its checksum).
    func reportSkippedCheckpoints(of trainer: Trainer, phase: RunPhase = .training, progress: (RunProgress) -> Void) {
        for (path, reason) in trainer.skippedCheckpoints {
            progress(.phase(phase, "skipped checkpoint \(path): \(reason); falling back to the one before"))
        }
    }

    /// The file a `weights` value names: a path, or `job:<id>` for a daemon job's trained model.
    /// - Throws: `RunError` for a job reference outside the daemon.
    func resolveWeights(_ weights: String) throws -> String {
        guard let id = WeightsReference.jobID(weights) else { return weights }
        guard let jobsFolder else {
            throw RunError("\(weights) names a job of the advd daemon; outside it, give the path of that job's model.safetensors")
        }
        return WeightsReference.path(job: id, jobsFolder: jobsFolder)
    }

    /// A saved model, checked to fit the data.
    func loadFittingModel(_ path: String, data: Dataset) throws -> (Sequential, ModelSpec) {
        let (model, spec) = try ModelCheckpoint.load(from: path)
        model.compute = compute
        guard spec.inputShape == data.itemShape, spec.classes == data.classCount else {
            throw RunError("\(path): a \(spec.summary) model does not fit \(data.name) (\(data.itemShape) → \(data.classCount))")
        }
        return (model, spec)
    }

    /// Weights for the architecture the manifest names, from any safetensors file with its tensors
    /// under PyTorch's `state_dict` names (one saved by PyTorch has no advd metadata): every tensor is
    /// checked against the architecture, and an advd file's own specification must agree with it.
    func loadNamedArchitecture(_ architecture: PartSpec, from path: String, data: Dataset) throws -> (Sequential, ModelSpec) {
        let spec = try modelSpec(architecture, for: data)
        let file = try SafeTensors.read(from: path)
        if file.metadata[ModelCheckpoint.modelKey] != nil {
            let saved = try ModelCheckpoint.spec(in: file, source: path)
            guard saved == spec else {
                throw RunError("\(path): holds a \(saved.summary) model; the manifest names \(spec.summary)")
            }
        }
        var rng = RandomStream(seed: 0, purpose: "checkpoint.rebuild")
        let model = try spec.build(rng: &rng)
        model.compute = compute
        do { try ModelCheckpoint.restore(model, from: file, source: path) } catch {
            throw RunError("\(error) — the manifest names \(spec.summary), whose tensors docs/manifest.md lists under \"PyTorch key layouts\"")
        }
        return (model, spec)
    }

    /// Robust fine-tuning's start (Hendrycks et al. 2019): another run's weights, with the
    /// classification head re-initialised when the class count differs.
    private func initialise(_ model: Sequential, spec: ModelSpec, from weights: String,
                            progress: (RunProgress) -> Void) throws {
        let file = try SafeTensors.read(from: weights)
        let saved = try ModelCheckpoint.spec(in: file, source: weights)
        var headless = saved, current = spec
        headless.classes = 0
        current.classes = 0
        guard headless == current else {
            throw RunError("\(weights): holds a \(saved.summary) model; this run builds \(spec.summary)")
        }
        let keepHead = saved.classes == spec.classes
        progress(.phase(.loading, "starting from the weights in \(weights)\(keepHead ? "" : ", with a new \(spec.classes)-class head")"))
        try ModelCheckpoint.restore(model, from: file, source: weights, allowOtherTensors: !keepHead,
                                    skipping: keepHead ? [] : ModelCheckpoint.headTensorNames(of: model))
    }

    /// Evaluates, writes adversarial.safetensors and the example images.
    /// - Returns: also the seconds of attacks that earlier processes recorded in the evaluation state
    ///   this one resumed (0 for a fresh evaluation), so that a resumed run's evaluation time counts them.
    private func evaluate(_ target: EvaluationTarget, data: Dataset, progress: (RunProgress) -> Void) throws
        -> (EvaluationReport, [ExampleImage], earlierSeconds: Double) {
        let spec = manifest.evaluation
        let split = spec.examples.map { data.test.prefix($0) } ?? data.test
        let evaluation = try robustEvaluation(classes: data.classCount, defense: target.defense.map { DefenseTraits($0, name: $0.name) })
        let fingerprint = manifestFingerprint()
        let saved = try loadEvaluationState(fingerprint: fingerprint)
        let log = AdversarialLog(path: outputFolder + "/adversarial-log.bin", itemSize: split.itemSize)
        try log.truncate(toRecords: saved.adversarialRecords)
        var records = saved.adversarialRecords
        let attacks = evaluation.battery.count
        let resumedAt = min(saved.state.finished.count, attacks - 1)
        let position = saved.state.hasStarted ? "resumed at batch \(saved.state.currentBatches + 1) of" : "attack 1 of \(attacks):"
        progress(.phase(.evaluating(attack: resumedAt + 1, of: attacks),
                        "evaluating under \(manifest.threatModel.description): \(position) \(evaluation.battery[resumedAt].name)"))
        var announced = resumedAt
        let (report, state) = try evaluation.evaluate(target, on: split, classNames: data.classNames, resuming: saved.state,
                                                 checkpoint: { state, broken in
            let attack = min(state.finished.count, attacks - 1)
            if attack != announced {
                announced = attack
                progress(.phase(.evaluating(attack: attack + 1, of: attacks),
                                "attack \(attack + 1) of \(attacks): \(evaluation.battery[attack].name)"))
            }
            let batches = (state.currentTargets.count + spec.batchSize - 1) / spec.batchSize
            progress(.evaluation(attack: attack + 1, attacks: attacks, name: evaluation.battery[attack].name,
                                 batch: state.currentBatches, batches: batches))
            // the adversarial inputs reach the disk before the state that counts them
            try log.append(broken)
            records += broken.count
            let record = SavedEvaluation(fingerprint: fingerprint, state: state, adversarialRecords: records)
            try AtomicFile.write(Array(JSONCoding.encode(record).utf8), to: evaluationStatePath)
            if shouldStop() { throw RunInterrupted(stage: "evaluation, after batch \(state.currentBatches) of \(evaluation.battery[attack].name)") }
        }, stage: { stage, text in progress(.phase(stage, text)) })
        progress(.phase(.writing, "writing adversarial.safetensors, metrics.json and the reports"))
        let judged = evaluation.judged(target, attack: -1, batch: 0), attackNames = evaluation.battery.map(\.name)
        let adversarial = AdversarialExamples.file(
            split: split, state: state, broken: try log.read(), judged: judged,
            threatModel: manifest.threatModel, attackNames: attackNames, batchSize: spec.batchSize)
        try adversarial.write(to: adversarialPath)
        let images = try ExampleGrid.write(into: outputFolder, split: split, adversarial: adversarial, judged: judged,
                                           classNames: data.classNames, threatModel: manifest.threatModel, attackNames: attackNames)
        return (report, images, saved.state.recordedAttackSeconds)
    }

    /// The manifest's evaluation: its battery built from the registries, with its settings.
    private func robustEvaluation(classes: Int, defense: DefenseTraits?) throws -> RobustEvaluation {
        let spec = manifest.evaluation
        let context = AttackContext(threatModel: manifest.threatModel, classes: classes, defense: defense)
        return RobustEvaluation(battery: try spec.attacks.map { try registries.attacks.make($0, context: context) },
                                batchSize: spec.batchSize, seed: manifest.seed, epsilonCurve: spec.epsilonCurve,
                                checks: spec.sanityChecks)
    }

    /// The passes through the model each stage takes (see `WorkPlan`).
    public func workPlan(data: Dataset) throws -> WorkPlan {
        let examples = min(manifest.evaluation.examples ?? data.test.count, data.test.count)
        // the defense changes no attack's cost, and is not built yet when the plan is made
        let planned = try robustEvaluation(classes: data.classCount, defense: nil).plannedPasses(examples: examples)
        var plan = WorkPlan(teacherPasses: 0, trainingPasses: 0, attackPasses: planned.attacks,
                            epsilonCurvePasses: planned.curve, sanityCheckPasses: planned.checks)
        if let config = manifest.train {
            let method = try registries.trainingMethods.make(manifest.trainingMethod, context: TrainingMethodContext(threatModel: manifest.threatModel))
            let mixed = 1 + Double(config.pseudoLabeled?.ratio ?? 0)
            plan.trainingPasses = Double(config.epochs * data.train.count * method.passesPerExample) * mixed
            if let selfTraining = manifest.selfTraining, selfTraining.teacherWeights == nil {
                plan.teacherPasses = Double(selfTraining.teacherEpochs * data.train.count)
            }
        }
        return plan
    }

    /// The manifest as JSON: an evaluation state only resumes under the manifest that wrote it.
    private func manifestFingerprint() -> String { JSONCoding.encode(manifest) }

    private func loadEvaluationState(fingerprint: String) throws -> SavedEvaluation {
        guard let data = FileManager.default.contents(atPath: evaluationStatePath) else {
            return SavedEvaluation(fingerprint: fingerprint, state: EvaluationState(), adversarialRecords: 0)
        }
        let record: SavedEvaluation
        do { record = try JSONCoding.decode(SavedEvaluation.self, from: String(decoding: data, as: UTF8.self)) } catch {
            throw RunError("\(evaluationStatePath): unreadable evaluation state (\(error)); delete it to evaluate from the start")
        }
        guard record.fingerprint == fingerprint else {
            throw RunError("\(outputFolder) holds a run of a different manifest; use another --out folder")
        }
        return record
    }

    private func createFolder(_ path: String) throws {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw RunError("\(path): cannot create the output folder: \(error.localizedDescription)")
        }
    }
}

/// The evaluation state file: the state, the manifest it belongs to, and how many records of the
/// adversarial log it counts.
struct SavedEvaluation: Codable {
    var fingerprint: String
    var state: EvaluationState
    var adversarialRecords: Int
}

/// `model.weights` and a teacher's `weights` may name a daemon job instead of a file: `job:42`.
public enum WeightsReference {
    /// The job id of a `job:<id>` reference, nil for a path.
    public static func jobID(_ weights: String) -> Int64? {
        guard weights.hasPrefix("job:") else { return nil }
        return Int64(weights.dropFirst(4)).flatMap { $0 > 0 ? $0 : nil }
    }

    /// Where a job's trained model lives.
    public static func path(job: Int64, jobsFolder: String) -> String { "\(jobsFolder)/\(job)/model.safetensors" }
}

/// A run stopped on request (`ExperimentRunner.shouldStop`) with its progress saved; running it again resumes.
public struct RunInterrupted: Error, CustomStringConvertible {
    public let stage: String
    public var description: String { "interrupted in \(stage); the progress is saved and the run resumes from it" }
}

/// A run that cannot proceed; the message names the file or folder and what to do.
public struct RunError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

