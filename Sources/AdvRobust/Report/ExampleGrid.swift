import AdvNN
import Foundation

/// One example the report shows: its clean image, its worst-case adversarial image and the
/// perturbation amplified, as PNG files in the run folder's `examples/`, with the labels and
/// predictions the report prints under them.
public struct ExampleImage: Codable, Sendable, Equatable {
    /// Index in the evaluated test split.
    public var index: Int
    public var label: String
    public var cleanPrediction: String
    /// The prediction on the adversarial image (the clean one when no attack broke the example).
    public var adversarialPrediction: String
    /// The attack that broke it; nil when none did.
    public var brokenBy: String?
    /// ‖δ‖ in the threat model's norm.
    public var perturbationNorm: Float
    /// The perturbation's scale in the amplified image: mid-grey is 0, black and white are ∓scale.
    public var perturbationScale: Float
    /// File names inside the run folder.
    public var cleanFile: String
    public var adversarialFile: String
    public var perturbationFile: String
}

/// Chooses and writes the report's example images.
public enum ExampleGrid {
    /// How many examples the grid shows at most.
    static let size = 8

    /// Writes `examples/NNNNN-{clean,adversarial,perturbation}.png` for up to `size` examples — those an
    /// attack broke first (spread over the attacks), then robust ones — and describes them. Inputs that
    /// are not images in [0, 1] (C × H × W with 1 or 3 channels) have no pictures: the result is empty.
    /// - Parameter adversarial: the evaluation's `adversarial.safetensors` contents.
    public static func write(into folder: String, split: DataSplit, adversarial: SafeTensors, judged: any Classifier,
                      classNames: [String], threatModel: ThreatModel, attackNames: [String]) throws -> [ExampleImage] {
        let shape = split.itemShape
        guard shape.count == 3, shape[0] == 1 || shape[0] == 3, threatModel.lowerBound == 0, threatModel.upperBound == 1,
              let inputs = adversarial.tensors["inputs"], let brokenBy = adversarial.integers["broken_by"]?.values,
              let predictions = adversarial.integers["predictions"]?.values,
              let norms = adversarial.tensors["perturbation_norm"] else { return [] }
        let labels64 = split.labels.map(Int64.init)
        let held = brokenBy.indices.map { brokenBy[$0] < 0 && predictions[$0] == labels64[$0] }
        let chosen = choose(brokenBy: brokenBy.map(Int.init), held: held, attacks: attackNames.count)
        guard !chosen.isEmpty else { return [] }
        let examplesFolder = folder + "/examples"
        try FileManager.default.createDirectory(atPath: examplesFolder, withIntermediateDirectories: true)
        let clean = Tensor(zeros: Shape(0))
        var labels: [Int] = []
        split.gather(chosen[...], into: clean, labels: &labels)
        let cleanPredictions = judged.predictions(clean)
        let size = split.itemSize
        func name(_ label: Int) -> String { label < classNames.count ? classNames[label] : "\(label)" }
        var images: [ExampleImage] = []
        for (position, index) in chosen.enumerated() {
            let cleanValues = split.inputs[index * size..<(index + 1) * size]
            let adversarialValues = Array(UnsafeBufferPointer(start: inputs.data + index * size, count: size))
            let delta = zip(adversarialValues, cleanValues).map { $0 - $1 }
            let scale = max(delta.map(abs).max() ?? 0, 1e-12)
            let amplified = delta.map { 0.5 + $0 / (2 * scale) }
            let stem = String(format: "examples/%05d", index)
            try write(cleanValues, shape: shape, to: folder + "/\(stem)-clean.png")
            try write(adversarialValues[...], shape: shape, to: folder + "/\(stem)-adversarial.png")
            try write(amplified[...], shape: shape, to: folder + "/\(stem)-perturbation.png")
            let attack = Int(brokenBy[index])
            images.append(ExampleImage(
                index: index, label: name(labels[position]), cleanPrediction: name(cleanPredictions[position]),
                adversarialPrediction: name(Int(predictions[index])), brokenBy: attack >= 0 ? attackNames[attack] : nil,
                perturbationNorm: norms[index], perturbationScale: scale == 1e-12 ? 0 : scale,
                cleanFile: "\(stem)-clean.png", adversarialFile: "\(stem)-adversarial.png", perturbationFile: "\(stem)-perturbation.png"))
        }
        return images
    }

    /// Up to `size` example indices: broken examples taken from each attack in turn, then the first
    /// examples that held (`held`: correct and never broken), in index order within each group.
    static func choose(brokenBy: [Int], held: [Bool], attacks: Int) -> [Int] {
        var perAttack = (0..<attacks).map { attack in brokenBy.indices.filter { brokenBy[$0] == attack } }
        var chosen: [Int] = []
        while chosen.count < size && perAttack.contains(where: { !$0.isEmpty }) {
            for attack in perAttack.indices where !perAttack[attack].isEmpty && chosen.count < size {
                chosen.append(perAttack[attack].removeFirst())
            }
        }
        let unbroken = held.indices.filter { held[$0] }
        // at least two examples that held, when there are any, so the grid shows both outcomes
        let keep = min(unbroken.count, max(size - chosen.count, 2))
        chosen = Array(chosen.prefix(size - keep)) + unbroken.prefix(keep)
        return chosen.sorted()
    }

    private static func write(_ values: ArraySlice<Float>, shape: [Int], to path: String) throws {
        let image = PNGImage(planes: values, channels: shape[0], height: shape[1], width: shape[2])
        try AtomicFile.write(try image.encoded(), to: path)
    }
}
