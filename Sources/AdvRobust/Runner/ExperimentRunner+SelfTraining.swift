import AdvNN
import Foundation

/// Robust self-training's first half: the teacher and its pseudo-labels. The teacher trains (or
/// resumes) in `teacher/` inside the output folder, so an interrupted run neither retrains it nor
/// labels the pool differently; labelling is deterministic, so the pool is recomputed, not stored.
extension ExperimentRunner {
    var teacherFolder: String { outputFolder + "/teacher" }

    /// The pool with the teacher's labels, and what to report about them.
    func pseudoLabeledPool(_ selfTraining: SelfTrainingSpec, spec: ModelSpec, data: Dataset, fullTraining: DataSplit,
                           config: TrainingConfig, progress: (RunProgress) -> Void) throws -> (DataSplit, SelfTrainingSummary) {
        var pool = try selfTraining.unlabeledImages(fullTraining: fullTraining, datasetName: data.name)
        guard pool.itemShape == data.itemShape else {
            throw RunError("self_training.pool: its images are \(pool.itemShape), \(data.name) examples are \(data.itemShape)")
        }
        let teacher = try prepareTeacher(selfTraining, spec: spec, data: data, config: config, progress: progress)
        progress(.phase(.pseudoLabelling, "pseudo-labelling \(pool.count) pool examples"))
        pool.labels = pseudoLabels(of: pool, by: teacher)

        var shares = Array(repeating: 0.0, count: data.classCount)
        for label in pool.labels { shares[label] += 1 / Double(pool.count) }
        var agreement: Double?
        if case .trainingSplit(let from, _) = selfTraining.pool {
            let truth = fullTraining.labels[from..<from + pool.count]
            agreement = Double(zip(truth, pool.labels).filter { $0 == $1 }.count) / Double(pool.count)
        }
        let summary = SelfTrainingSummary(poolExamples: pool.count, teacherValidationAccuracy: Metrics.accuracy(of: teacher, on: data.validation),
                                          pseudoLabelAccuracy: agreement, pseudoLabelClassShares: shares)
        return (pool, summary)
    }

    /// The teacher: loaded from `teacher.weights`, from an earlier attempt's `teacher/model.safetensors`,
    /// or trained now with standard training on the labelled examples (resumable in `teacher/checkpoints`).
    private func prepareTeacher(_ selfTraining: SelfTrainingSpec, spec: ModelSpec, data: Dataset, config: TrainingConfig,
                                progress: (RunProgress) -> Void) throws -> Sequential {
        if let weights = selfTraining.teacherWeights {
            let path = try resolveWeights(weights)
            progress(.phase(.loading, "loading the teacher \(path)"))
            return try loadFittingModel(path, data: data).0
        }
        let saved = teacherFolder + "/model.safetensors"
        if FileManager.default.fileExists(atPath: saved) {
            progress(.phase(.loading, "loading the teacher trained earlier, \(saved)"))
            return try loadFittingModel(saved, data: data).0
        }
        var teacherConfig = config
        teacherConfig.epochs = selfTraining.teacherEpochs
        teacherConfig.pseudoLabeled = nil
        teacherConfig.frozenLayers = nil
        let trainer = try Trainer(spec: spec, dataset: data, config: teacherConfig, method: StandardTraining(),
                                  checkpointFolder: teacherFolder + "/checkpoints", compute: compute)
        let resumed = try trainer.resumeFromLatestCheckpoint()
        reportSkippedCheckpoints(of: trainer, phase: .teacher, progress: progress)
        if let resumed { progress(.phase(.teacher, "resumed the teacher from \(resumed)")) }
        progress(.phase(.teacher, "training the teacher: \(spec.summary), standard training for \(Wording.counted(teacherConfig.epochs, "epoch")) on \(Wording.counted(data.train.count, "labelled example"))"))
        try trainer.run(progress: { progress(.training($0)) }, shouldStop: shouldStop)
        guard trainer.isFinished else { throw RunInterrupted(stage: "the teacher's training, at step \(trainer.cursor.step) of \(trainer.totalSteps)") }
        try ModelCheckpoint.save(trainer.outputModel, spec: spec, to: saved)
        return trainer.outputModel
    }
}
