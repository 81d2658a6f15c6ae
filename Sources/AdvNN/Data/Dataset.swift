/// Datasets: labelled examples in memory, as float32 in [0, 1] for images (unbounded for synthetic
/// sets), with train and test splits. Readers for IDX (MNIST, Fashion-MNIST) and CIFAR-10 binary files
/// and seeded synthetic generators live beside this file.

/// One split of a dataset: `count` examples of shape `itemShape`, stored contiguously.
public struct DataSplit: Sendable {
    /// The examples, row-major: count × itemShape.
    public var inputs: [Float]
    /// The class of every example.
    public var labels: [Int]
    /// The shape of one example: [C, H, W] or [d].
    public var itemShape: [Int]

    public init(inputs: [Float], labels: [Int], itemShape: [Int]) {
        precondition(inputs.count == labels.count * itemShape.reduce(1, *),
                     "\(inputs.count) values for \(labels.count) examples of shape \(itemShape)")
        self.inputs = inputs
        self.labels = labels
        self.itemShape = itemShape
    }

    /// The number of examples.
    public var count: Int { labels.count }

    /// Values per example.
    public var itemSize: Int { itemShape.reduce(1, *) }

    /// The examples in `range`.
    public func slice(_ range: Range<Int>) -> DataSplit {
        DataSplit(inputs: Array(inputs[range.lowerBound * itemSize..<range.upperBound * itemSize]), labels: Array(labels[range]),
                  itemShape: itemShape)
    }

    /// The first `count` examples (all of them when there are fewer).
    public func prefix(_ count: Int) -> DataSplit {
        let kept = min(count, self.count)
        return DataSplit(inputs: Array(inputs[0..<kept * itemSize]), labels: Array(labels[0..<kept]), itemShape: itemShape)
    }

    /// Copies the examples at `indices` into `batch` (resized to (n, itemShape…)) and their labels into
    /// `labels`, reusing both buffers' memory.
    public func gather(_ indices: ArraySlice<Int>, into batch: Tensor, labels batchLabels: inout [Int]) {
        let size = itemSize
        batch.resize(to: batchShape(indices.count))
        // Grow or shrink the label buffer in place: no allocation once it has held a full batch.
        if batchLabels.count > indices.count { batchLabels.removeLast(batchLabels.count - indices.count) }
        while batchLabels.count < indices.count { batchLabels.append(0) }
        inputs.withUnsafeBufferPointer { source in
            for (row, index) in indices.enumerated() {
                (batch.data + row * size).update(from: source.baseAddress! + index * size, count: size)
                batchLabels[row] = labels[index]
            }
        }
    }

    /// The shape of a batch of `count` examples, without building an array (this runs every step).
    private func batchShape(_ count: Int) -> Shape {
        switch itemShape.count {
        case 1: return Shape(count, itemShape[0])
        case 2: return Shape(count, itemShape[0], itemShape[1])
        default: return Shape(count, itemShape[0], itemShape[1], itemShape[2])
        }
    }

    /// Examples `range` as a new tensor and label array (for evaluation and tests).
    public func batch(_ range: Range<Int>) -> (inputs: Tensor, labels: [Int]) {
        let tensor = Tensor(zeros: Shape([range.count] + itemShape))
        var batchLabels: [Int] = []
        gather(Array(range)[...], into: tensor, labels: &batchLabels)
        return (tensor, batchLabels)
    }
}

/// A labelled dataset with train, validation and test splits.
///
/// The validation split is carved from the training data (`holdingOutValidation`): training watches it
/// after every epoch and chooses among epochs with it, so the test split is touched only by the final
/// evaluation (choosing on test data would be model selection on the test set).
public struct Dataset: Sendable {
    /// A short name (`fashion-mnist`, `tsipras`, …).
    public var name: String
    public var train: DataSplit
    /// Examples held out of training for per-epoch measurements; empty until `holdingOutValidation`.
    public var validation: DataSplit
    public var test: DataSplit
    /// Human-readable class names, one per class.
    public var classNames: [String]
    /// The valid range of input values ([0, 1] for images), or nil when inputs are unbounded.
    public var valueRange: ClosedRange<Float>?

    public init(name: String, train: DataSplit, test: DataSplit, classNames: [String], valueRange: ClosedRange<Float>?) {
        precondition(train.itemShape == test.itemShape, "train \(train.itemShape) and test \(test.itemShape) shapes differ")
        self.name = name
        self.train = train
        self.validation = DataSplit(inputs: [], labels: [], itemShape: train.itemShape)
        self.test = test
        self.classNames = classNames
        self.valueRange = valueRange
    }

    /// The same data with the last `count` training examples moved into the validation split (no
    /// training example is ever in both). `count` is capped so that at least one example trains.
    public func holdingOutValidation(_ count: Int) -> Dataset {
        let kept = max(train.count - max(count, 0), min(train.count, 1))
        var data = self
        data.validation = train.slice(kept..<train.count)
        data.train = train.prefix(kept)
        return data
    }

    /// The number of classes.
    public var classCount: Int { classNames.count }
    /// The shape of one example.
    public var itemShape: [Int] { train.itemShape }
}

/// A dataset that cannot be read; the message names the file and what is wrong with it.
public struct DatasetError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
