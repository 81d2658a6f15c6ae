/// `adversarial.safetensors`: the worst-case input of every evaluated example, so that anyone can
/// re-check the claim in their own framework (load the model, check ‖δ‖ ≤ ε and the value range,
/// classify). Tensors:
///
///   inputs             F32 [N, …]  the adversarial input that broke the example, or the clean input
///   indices            I64 [N]     the example's index in the test split
///   labels             I64 [N]     the true class
///   predictions        I64 [N]     the model's prediction on `inputs` (behind the defense, if any)
///   broken_by          I64 [N]     the battery index of the attack that broke it; -1: none did
///   perturbation_norm  F32 [N]     ‖inputs − clean‖ in the threat model's norm
///
/// While the evaluation runs, each batch's broken examples are appended to a log beside the
/// evaluation state (`AdversarialLog`), which records how many records belong to the saved state;
/// the file is assembled from the log at the end.
import AdvNN
import Foundation

/// Append-only records of broken examples: (index: Int64, attack: Int64, input: itemSize × F32).
struct AdversarialLog {
    let path: String
    let itemSize: Int

    private var recordSize: Int { 16 + 4 * itemSize }

    /// Cuts the log to its first `records` records: those the saved evaluation state counts. What a
    /// crash left after them belongs to a batch that will run again.
    func truncate(toRecords records: Int) throws {
        let exists = FileManager.default.fileExists(atPath: path)
        if records == 0 && !exists { return }
        guard exists else {
            throw RunError("\(path): missing, but the saved evaluation state counts \(records) adversarial examples in it; delete evaluation-state.json to evaluate from the start")
        }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw RunError("\(path): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var info = stat()
        fstat(descriptor, &info)
        let wanted = off_t(records * recordSize)
        guard info.st_size >= wanted else {
            throw RunError("\(path): holds \(Int(info.st_size) / recordSize) adversarial examples, the saved evaluation state counts \(records); delete evaluation-state.json to evaluate from the start")
        }
        guard ftruncate(descriptor, wanted) == 0 else { throw RunError("\(path): cannot truncate: \(String(cString: strerror(errno)))") }
    }

    /// Appends the records and flushes them to disk (before the state that counts them is saved).
    func append(_ examples: [BrokenExample]) throws {
        guard !examples.isEmpty else { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(examples.count * recordSize)
        for example in examples {
            precondition(example.input.count == itemSize, "an adversarial input of \(example.input.count) values, expected \(itemSize)")
            withUnsafeBytes(of: Int64(example.index).littleEndian) { bytes += $0 }
            withUnsafeBytes(of: Int64(example.attack).littleEndian) { bytes += $0 }
            example.input.withUnsafeBytes { bytes += $0 }
        }
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw RunError("\(path): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(descriptor) == 0 else {
            throw RunError("\(path): cannot append adversarial examples: \(String(cString: strerror(errno)))")
        }
    }

    /// Every record, in the order written.
    func read() throws -> [BrokenExample] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        guard data.count % recordSize == 0 else {
            throw RunError("\(path): \(data.count) bytes is not a whole number of \(recordSize)-byte records")
        }
        return data.withUnsafeBytes { raw in
            (0..<data.count / recordSize).map { record in
                let base = record * recordSize
                let index = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: base, as: Int64.self))
                let attack = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: base + 8, as: Int64.self))
                let input = (0..<itemSize).map { raw.loadUnaligned(fromByteOffset: base + 16 + 4 * $0, as: Float.self) }
                return BrokenExample(index: Int(index), attack: Int(attack), input: input)
            }
        }
    }
}

enum AdversarialExamples {
    /// The file's contents for an evaluation of `split` that ended in `state`, from the log's records.
    /// - Parameter judged: the classifier the evaluation judged (the model behind its defense).
    static func file(split: DataSplit, state: EvaluationState, broken: [BrokenExample], judged: any Classifier,
                     threatModel: ThreatModel, attackNames: [String], batchSize: Int) -> SafeTensors {
        let size = split.itemSize
        var inputs = split.inputs
        for example in broken where state.brokenBy[example.index] == example.attack {
            inputs.replaceSubrange(example.index * size..<(example.index + 1) * size, with: example.input)
        }
        var predictions: [Int] = []
        var norms: [Float] = []
        for start in stride(from: 0, to: split.count, by: batchSize) {
            let count = min(batchSize, split.count - start)
            let batch = Tensor(zeros: Shape([count] + split.itemShape))
            inputs.withUnsafeBufferPointer { batch.data.update(from: $0.baseAddress! + start * size, count: count * size) }
            predictions += judged.predictions(batch)
        }
        for example in 0..<split.count {
            let offset = example * size
            var norm: Float = 0
            for value in 0..<size {
                let difference = abs(inputs[offset + value] - split.inputs[offset + value])
                norm = threatModel.norm == .linf ? max(norm, difference) : norm + difference * difference
            }
            norms.append(threatModel.norm == .linf ? norm : norm.squareRoot())
        }
        let inputTensor = Tensor(zeros: Shape([split.count] + split.itemShape))
        inputs.withUnsafeBufferPointer { inputTensor.data.update(from: $0.baseAddress!, count: inputs.count) }
        let normTensor = Tensor(zeros: Shape([split.count]))
        norms.withUnsafeBufferPointer { normTensor.data.update(from: $0.baseAddress!, count: norms.count) }
        return SafeTensors(
            tensors: ["inputs": inputTensor, "perturbation_norm": normTensor],
            integers: ["indices": IntegerTensor(Array(0..<split.count)), "labels": IntegerTensor(split.labels),
                       "predictions": IntegerTensor(predictions), "broken_by": IntegerTensor(state.brokenBy)],
            metadata: ["format": "advd adversarial examples 1", "threat_model": threatModel.description,
                       "norm": threatModel.norm.rawValue, "epsilon": "\(threatModel.epsilon)",
                       "attacks": JSONCoding.encode(attackNames)])
    }
}
