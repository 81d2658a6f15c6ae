import AdvNN

/// The detector registry: every detector a manifest can put beside the model. A detector is built
/// after training, for the trained model, so an entry makes a `DetectorRecipe`. Each detector declares
/// its entry in its own file; adding one is that file and one line in `standard`.
public typealias DetectorEntry = RegistryEntry<DetectorRecipe, NoContext>
public typealias DetectorRegistry = Registry<DetectorRecipe, NoContext>

/// The context of parts whose keys depend on nothing else in the manifest.
public struct NoContext: Sendable {
    public init() {}
}

/// How to build a detector once the model is trained.
public struct DetectorRecipe: Sendable {
    /// What a detector is calibrated (and trained) on.
    public struct Calibration {
        public var model: ModelClassifier
        /// The first `train_examples` training inputs (N, …) and their labels.
        public var clean: Tensor
        public var labels: [Int]
        public var threatModel: ThreatModel
        public var seed: UInt64
    }

    /// The fraction of clean inputs the detector may reject; its threshold is calibrated to it.
    public let falsePositiveRate: Double
    /// How many training examples it is calibrated on.
    public let trainExamples: Int
    let build: @Sendable (Calibration, Double) -> any Detector

    /// The detector for a trained model, calibrated on the first `trainExamples` of `data`'s training split.
    public func detector(for model: ModelClassifier, data: Dataset, threatModel: ThreatModel, seed: UInt64) -> any Detector {
        let count = min(trainExamples, data.train.count)
        let (clean, labels) = data.train.prefix(count).batch(0..<count)
        return build(Calibration(model: model, clean: clean, labels: labels, threatModel: threatModel, seed: seed), falsePositiveRate)
    }
}

extension Registry where Part == DetectorRecipe, Context == NoContext {
    public static let standard = DetectorRegistry(kind: "detector", entries: [.maxSoftmax, .activationStatistics])
}

extension RegistryEntry where Part == DetectorRecipe, Context == NoContext {
    /// The keys every detector takes.
    static let calibrationKeys: [ParameterKey<NoContext>] = [
        .init("false_positive_rate", .number(0...0.5, lowerIsOpen: false), default: .value(.number(0.05)),
              doc: "the fraction of clean inputs it may reject; its threshold is calibrated to it"),
        .init("train_examples", .integer(10...1_000_000), default: .value(.integer(1000)),
              doc: "clean training examples it is calibrated (and trained) on"),
    ]

    /// An entry whose detector `build` makes from the calibration data and the false-positive rate.
    static func detector(_ name: String, summary: String,
                         build: @escaping @Sendable (DetectorRecipe.Calibration, Double) -> any Detector) -> DetectorEntry {
        DetectorEntry(name: name, summary: summary, keys: calibrationKeys, make: { spec, _ in
            DetectorRecipe(falsePositiveRate: Double(spec.float("false_positive_rate")), trainExamples: spec.int("train_examples"),
                           build: build)
        })
    }

}
