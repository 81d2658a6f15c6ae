import Foundation

/// Reader for the CIFAR-10 binary version (Krizhevsky 2009): `data_batch_1.bin` … `data_batch_5.bin`
/// and `test_batch.bin`, each a sequence of 3,073-byte records — one label byte, then 3×32×32 pixel
/// bytes, channel-major (all red, then green, then blue) — and optionally `batches.meta.txt` with one
/// class name per line.
public enum CIFAR10Reader {
    static let side = 32, channels = 3
    static let recordSize = 1 + channels * side * side

    /// Reads one batch file into (pixels scaled to [0, 1], labels).
    /// - Throws: `DatasetError` for a missing file, a size that is not a whole number of records, or a
    ///   label outside 0..<classes.
    public static func readBatch(_ path: String, classes: Int = 10) throws -> (inputs: [Float], labels: [Int]) {
        let data: [UInt8]
        do { data = try FileAccess.readAll(path) } catch { throw DatasetError("\(error)") }
        guard !data.isEmpty, data.count % recordSize == 0 else {
            throw DatasetError("\(path): \(data.count) bytes is not a whole number of \(recordSize)-byte CIFAR-10 records (truncated?)")
        }
        let records = data.count / recordSize
        var inputs = [Float](repeating: 0, count: records * (recordSize - 1))
        var labels = [Int](repeating: 0, count: records)
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            for record in 0..<records {
                let start = record * recordSize
                let label = Int(raw[start])
                guard label < classes else {
                    throw DatasetError("\(path): record \(record) has a label outside 0..<\(classes)")
                }
                labels[record] = label
                for i in 0..<(recordSize - 1) { inputs[record * (recordSize - 1) + i] = Float(raw[start + 1 + i]) / 255 }
            }
        }
        return (inputs, labels)
    }
}

extension Dataset {
    public static let cifar10ClassNames = [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    ]

    /// CIFAR-10 from the binary batches in `folder` (the `cifar-10-batches-bin` folder of the archive).
    /// - Throws: `DatasetError` naming the folder or file and the problem.
    public static func cifar10(folder: String) throws -> Dataset {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError("dataset folder \(folder) does not exist (expected the cifar-10-batches-bin folder)")
        }
        var classNames = cifar10ClassNames
        if let bytes = try? FileAccess.readAll(folder + "/batches.meta.txt") {
            let text = String(decoding: bytes, as: UTF8.self)
            let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
            if names.count >= 2 { classNames = names }
        }
        var trainInputs: [Float] = [], trainLabels: [Int] = []
        for index in 1...5 {
            let batch = try CIFAR10Reader.readBatch("\(folder)/data_batch_\(index).bin", classes: classNames.count)
            trainInputs += batch.inputs
            trainLabels += batch.labels
        }
        let test = try CIFAR10Reader.readBatch("\(folder)/test_batch.bin", classes: classNames.count)
        let shape = [CIFAR10Reader.channels, CIFAR10Reader.side, CIFAR10Reader.side]
        return Dataset(name: "cifar10",
                       train: DataSplit(inputs: trainInputs, labels: trainLabels, itemShape: shape),
                       test: DataSplit(inputs: test.inputs, labels: test.labels, itemShape: shape),
                       classNames: classNames, valueRange: 0...1)
    }
}
