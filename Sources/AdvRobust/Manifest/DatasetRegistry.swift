import AdvNN

/// The dataset registry (`dataset`): each data set a manifest can name, its keys, and what the rest of
/// the manifest is checked against before any file is read (its class count, whether its inputs are
/// images in [0, 1]).
public typealias DatasetEntry = RegistryEntry<DatasetRecipe, NoContext>
public typealias DatasetRegistry = Registry<DatasetRecipe, NoContext>

/// How to get a data set, and what is known of it before loading.
public struct DatasetRecipe: Sendable {
    public let classCount: Int
    /// Images in [0, 1] (N, C, H, W); else unbounded vectors.
    public let hasImageInputs: Bool
    /// Drawn from the seed (as many examples as asked) rather than read from files.
    public let isSynthetic: Bool
    /// How to get the files when they are missing, if a package provides them.
    public var installHint: String?
    /// The data with every example its files hold; a synthetic set draws at least `trainingExamplesNeeded`
    /// training examples (self-training's pool may lie beyond `train_examples`).
    let load: @Sendable (_ seed: UInt64, _ trainingExamplesNeeded: Int) throws -> Dataset

    public func loadUntrimmed(seed: UInt64, trainingExamplesNeeded: Int = 0) throws -> Dataset {
        try load(seed, trainingExamplesNeeded)
    }
}

extension Registry where Part == DatasetRecipe, Context == NoContext {
    public static let standard = DatasetRegistry(kind: "dataset", entries: [.fashionMNIST, .mnist, .idx, .cifar10, .tsipras, .blobs])
}

extension PartSpec {
    /// `dataset.train_examples` and `dataset.test_examples` keep only the first N of a split; then
    /// `dataset.validation_examples` of the training examples move to the validation split.
    public func trimmed(_ full: Dataset) -> Dataset {
        var data = full
        if let count = optionalInt("train_examples") { data.train = data.train.prefix(count) }
        if let count = optionalInt("test_examples") { data.test = data.test.prefix(count) }
        let validation = optionalInt("validation_examples") ?? Self.defaultValidationExamples(trainingExamples: data.train.count)
        return data.holdingOutValidation(validation)
    }

    /// 1,000 validation examples, but never more than a tenth of the training examples (at least one).
    public static func defaultValidationExamples(trainingExamples: Int) -> Int {
        max(1, min(1_000, trainingExamples / 10))
    }
}

extension RegistryEntry where Part == DatasetRecipe, Context == NoContext {
    typealias DatasetKey = ParameterKey<NoContext>

    /// The keys every data set takes after its own.
    static let sizes = [
        DatasetKey("train_examples", .integer(1...10_000_000), default: .absent,
                   doc: "use only the first N training examples (synthetic sets: draw N; default 10,000)"),
        DatasetKey("test_examples", .integer(1...10_000_000), default: .absent,
                   doc: "use only the first N test examples (synthetic sets: draw N; default 2,000)"),
        DatasetKey("validation_examples", .integer(1...1_000_000), default: .absent,
                   doc: "hold the last N training examples out of training for the per-epoch measurements and fast AT's guard, so that nothing during training looks at test data (default 1,000, at most a tenth of the training examples)"),
    ]
    static func folder(_ defaultValue: ParameterKey<NoContext>.Default) -> DatasetKey {
        DatasetKey("path", .text, default: defaultValue, doc: "the folder of the data set's files")
    }

    /// A data set read from files in `path`.
    static func files(_ name: String, summary: String, classes: Int, defaultFolder: String? = nil, installHint: String? = nil,
                      load: @escaping @Sendable (String) throws -> Dataset) -> DatasetEntry {
        DatasetEntry(
            name: name, summary: summary,
            keys: [folder(defaultFolder.map { .value(.text($0)) } ?? .required)] + sizes,
            make: { spec, _ in
                DatasetRecipe(classCount: classes, hasImageInputs: true, isSynthetic: false, installHint: installHint,
                              load: { _, _ in try load(spec.string("path")) })
            })
    }

    /// How many training examples a synthetic set draws.
    static func syntheticTrainCount(_ spec: PartSpec, needed: Int) -> Int {
        max(spec.optionalInt("train_examples") ?? 10_000, needed)
    }

    public static let fashionMNIST = files(
        "fashion-mnist", summary: "Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 grey 28×28 images of clothes; Debian's dataset-fashion-mnist",
        classes: 10, defaultFolder: Dataset.fashionMNISTFolder, installHint: "install it: apt-get install dataset-fashion-mnist",
        load: { try Dataset.fashionMNIST(folder: $0) })
    public static let mnist = files(
        "mnist", summary: "MNIST digits from IDX files (train-images-idx3-ubyte, …, optionally .gz)", classes: 10,
        load: { try Dataset.idx(name: "mnist", folder: $0) })
    public static let idx = files(
        "idx", summary: "any 10-class image set in MNIST's IDX layout", classes: 10, load: { try Dataset.idx(name: "idx", folder: $0) })
    public static let cifar10 = files(
        "cifar10", summary: "CIFAR-10 (Krizhevsky 2009): 32×32 colour images, the binary version's cifar-10-batches-bin folder",
        classes: 10, load: { try Dataset.cifar10(folder: $0) })

    public static let tsipras = DatasetEntry(
        name: "tsipras", summary: "the toy model of Tsipras et al. 2019: one robust feature right with probability p, d weak ones shifted by η",
        keys: [DatasetKey("dimensions", .integer(2...1_000_000), default: .value(.integer(1000)), doc: "d, the weak features"),
               DatasetKey("p", .number(0...1, lowerIsOpen: true), default: .value(.number(0.95)), doc: "how often the robust feature is right"),
               DatasetKey("eta", .number(0...1000, lowerIsOpen: true), default: .value(.number(0.1)), doc: "η, the weak features' shift")]
            + sizes,
        make: { spec, _ in
            DatasetRecipe(classCount: 2, hasImageInputs: false, isSynthetic: true, installHint: nil, load: { seed, needed in
                Dataset.tsipras(dimensions: spec.int("dimensions"), p: spec.float("p"), eta: spec.float("eta"),
                                trainCount: syntheticTrainCount(spec, needed: needed), testCount: spec.optionalInt("test_examples") ?? 2_000,
                                seed: seed)
            })
        })

    public static let blobs = DatasetEntry(
        name: "blobs", summary: "Gaussian class blobs: class k is N(μₖ, spread²·I), the centres μₖ uniform in [−separation, separation]^d",
        keys: [DatasetKey("classes", .integer(2...1000), default: .value(.integer(4)), doc: "the number of classes"),
               DatasetKey("dimensions", .integer(2...1_000_000), default: .value(.integer(20)), doc: "the input's dimensions"),
               DatasetKey("separation", .number(0...1e6, lowerIsOpen: true), default: .value(.number(2)), doc: "the centres' scale"),
               DatasetKey("spread", .number(0...1e6, lowerIsOpen: true), default: .value(.number(1)), doc: "each blob's standard deviation")]
            + sizes,
        make: { spec, _ in
            DatasetRecipe(classCount: spec.int("classes"), hasImageInputs: false, isSynthetic: true, installHint: nil, load: { seed, needed in
                Dataset.gaussianBlobs(classes: spec.int("classes"), dimensions: spec.int("dimensions"), separation: spec.float("separation"),
                                      spread: spec.float("spread"), trainCount: syntheticTrainCount(spec, needed: needed),
                                      testCount: spec.optionalInt("test_examples") ?? 2_000, seed: seed)
            })
        })
}
