import Foundation

/// Writing and restoring the complete training state.
extension Trainer {
    static let kindKey = "advd.kind", kindValue = "training-state"
    static let cursorKey = "advd.cursor", configKey = "advd.config"
    static let optimizerPrefix = "optimizer.", methodPrefix = "method.", averagePrefix = "average."
    /// How many checkpoints stay on disk; older ones are removed after a newer one is durable.
    static let checkpointsKept = 2

    /// The file name of the checkpoint taken after `step` steps.
    public static func checkpointName(step: Int) -> String { String(format: "step-%08d.safetensors", step) }

    /// The complete training state as a safetensors file.
    public func checkpointContents() -> SafeTensors {
        var file = ModelCheckpoint.contents(of: model, spec: spec)
        for (name, tensor) in optimizer.namedState { file.tensors[Self.optimizerPrefix + name] = tensor }
        for (name, tensor) in method.namedState { file.tensors[Self.methodPrefix + name] = tensor }
        for (name, tensor) in averaged?.namedState ?? [] { file.tensors[Self.averagePrefix + name] = tensor }
        var saved = cursor
        saved.trainingRandomState = trainingRandomState
        file.metadata[Self.kindKey] = Self.kindValue
        file.metadata[Self.cursorKey] = JSONCoding.encode(saved)
        file.metadata[Self.configKey] = JSONCoding.encode(config)
        file.metadata["advd.optimizer.steps"] = String(optimizer.stepCount)
        return file
    }

    /// Writes a checkpoint if a folder is set, then prunes old ones.
    /// - Returns: the path written, or nil without a folder.
    @discardableResult
    public func writeCheckpoint() throws -> String? {
        guard let folder = checkpointFolder else { return nil }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError("\(folder): cannot create checkpoint folder: \(error.localizedDescription)")
        }
        let path = folder + "/" + Self.checkpointName(step: cursor.step)
        try checkpointContents().write(to: path)
        for old in Self.checkpoints(in: folder).dropLast(Self.checkpointsKept) {
            try? FileManager.default.removeItem(atPath: old)
        }
        return path
    }

    /// Checkpoint files in `folder`, oldest first.
    public static func checkpoints(in folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasPrefix("step-") && $0.hasSuffix(".safetensors") }.sorted().map { folder + "/" + $0 }
    }

    /// Restores the newest readable checkpoint in `checkpointFolder`.
    /// - Returns: the path resumed from, or nil when there is none.
    /// - Throws: `CheckpointError` when the newest checkpoint belongs to another run.
    @discardableResult
    public func resumeFromLatestCheckpoint() throws -> String? {
        guard let folder = checkpointFolder else { return nil }
        skippedCheckpoints = []
        for path in Self.checkpoints(in: folder).reversed() {
            // a truncated file (a write that never completed) or a corrupt one (its checksum fails):
            // fall back to the one before, and say so
            let file: SafeTensors
            do { file = try SafeTensors.read(from: path) } catch {
                skippedCheckpoints.append((path, "\(error)"))
                continue
            }
            try restore(from: file, source: path)
            return path
        }
        return nil
    }

    /// Restores the training state from a checkpoint file.
    /// - Throws: `CheckpointError` when the file is not a training state of this run: another
    ///   configuration, architecture or method, or tensors that do not match.
    public func resume(from path: String) throws {
        try restore(from: SafeTensors.read(from: path), source: path)
    }

    private func restore(from file: SafeTensors, source: String) throws {
        guard file.metadata[Self.kindKey] == Self.kindValue,
              let cursorJSON = file.metadata[Self.cursorKey], let configJSON = file.metadata[Self.configKey]
        else { throw CheckpointError("\(source): not an advd training-state checkpoint") }
        let savedSpec = try ModelCheckpoint.spec(in: file, source: source)
        guard savedSpec == spec else {
            throw CheckpointError("\(source): written for model \(savedSpec.summary), this run trains \(spec.summary)")
        }
        let savedConfig: TrainingConfig, savedCursor: TrainingCursor
        do {
            savedConfig = try JSONCoding.decode(TrainingConfig.self, from: configJSON)
            savedCursor = try JSONCoding.decode(TrainingCursor.self, from: cursorJSON)
        } catch {
            throw CheckpointError("\(source): unreadable training metadata: \(error)")
        }
        guard savedConfig == config else {
            throw CheckpointError("\(source): written with another training configuration (\(configJSON)); resuming it under a different one would not reproduce the run")
        }
        guard savedCursor.method == method.name else {
            throw CheckpointError("\(source): written by training method \(savedCursor.method), this run uses \(method.name)")
        }
        try ModelCheckpoint.restore(model, from: file, source: source, allowOtherTensors: true)
        var problems: [String] = []
        Self.copy(optimizer.namedState, from: file, prefix: Self.optimizerPrefix, kind: "optimizer", sameShape: true, problems: &problems)
        // a method's state may be sized only once it runs (free AT's δ, ATTA's perturbations): it takes the saved shape
        Self.copy(method.namedState, from: file, prefix: Self.methodPrefix, kind: "training-method", sameShape: false, problems: &problems)
        Self.copy(averaged?.namedState ?? [], from: file, prefix: Self.averagePrefix, kind: "weight-average", sameShape: true, problems: &problems)
        guard problems.isEmpty else { throw CheckpointError("\(source): " + problems.joined(separator: "; ")) }
        guard savedCursor.trainingRandomState.count == 4, let optimizerSteps = file.metadata["advd.optimizer.steps"].flatMap(Int.init)
        else { throw CheckpointError("\(source): missing random state or optimizer step count") }
        optimizer.stepCount = optimizerSteps
        trainingRandomState = savedCursor.trainingRandomState
        restoreCursor(savedCursor)
    }

    /// Copies each named tensor from the file's `prefix + name`; one that is missing, or (`sameShape`)
    /// saved with another shape, is added to `problems` instead.
    private static func copy(_ named: [(name: String, tensor: Tensor)], from file: SafeTensors, prefix: String, kind: String,
                             sameShape: Bool, problems: inout [String]) {
        for (name, tensor) in named {
            guard let stored = file.tensors[prefix + name], !sameShape || stored.shape == tensor.shape else {
                problems.append("\(kind) tensor \(prefix + name) missing" + (sameShape ? " or not \(tensor.shape)" : ""))
                continue
            }
            tensor.assign(stored)
        }
    }
}
