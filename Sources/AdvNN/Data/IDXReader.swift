import Foundation

/// Reader for the IDX format of MNIST and Fashion-MNIST (LeCun et al.): a big-endian header — two zero
/// bytes, a type byte (0x08 = unsigned byte), the number of dimensions — then each dimension as a
/// 32-bit big-endian integer, then the data. Files may be gzip-compressed.
public enum IDXReader {
    /// The dimensions and bytes of an unsigned-byte IDX file.
    /// - Throws: `DatasetError` naming the file for a wrong magic number, an unsupported type or a
    ///   length that does not match the header.
    public static func read(_ path: String, expectedRank: Int) throws -> (dimensions: [Int], bytes: ArraySlice<UInt8>) {
        let bytes = try GzipFile.readAll(path)
        guard bytes.count >= 4 else { throw DatasetError("\(path): truncated IDX file (\(bytes.count) bytes, no header)") }
        // the messages describe what is wrong without quoting the file's bytes
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw DatasetError("\(path): wrong magic number: not an IDX file (an IDX file starts with two zero bytes)")
        }
        guard bytes[2] == 0x08 else {
            throw DatasetError("\(path): not an IDX file of unsigned bytes (data type 0x08), the only type advd reads")
        }
        let rank = Int(bytes[3])
        guard rank == expectedRank else {
            throw DatasetError("\(path): wrong magic number: not an IDX file of \(expectedRank) dimensions (magic 0x0000080\(expectedRank))")
        }
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else { throw DatasetError("\(path): truncated IDX header") }
        let dimensions = (0..<rank).map { axis in
            (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * axis + $1]) }
        }
        let expected = headerSize + dimensions.reduce(1, *)
        guard bytes.count == expected else {
            let problem = bytes.count < expected ? "truncated" : "too long"
            throw DatasetError("\(path): \(problem): header \(dimensions) needs \(expected) bytes, file has \(bytes.count)")
        }
        return (dimensions, bytes[headerSize...])
    }

    /// Loads an image/label pair of IDX files as a split with images scaled to [0, 1].
    /// - Throws: `DatasetError` for unreadable files or when the image and label counts differ.
    public static func loadSplit(images imagePath: String, labels labelPath: String, classes: Int) throws -> DataSplit {
        var split = try loadImages(imagePath)
        let (labelDimensions, labelBytes) = try read(labelPath, expectedRank: 1)
        guard split.count == labelDimensions[0] else {
            throw DatasetError("\(imagePath) has \(split.count) images but \(labelPath) has \(labelDimensions[0]) labels")
        }
        let labels = labelBytes.map(Int.init)
        if let bad = labels.firstIndex(where: { $0 >= classes }) {
            throw DatasetError("\(labelPath): label \(labels[bad]) at index \(bad) is outside 0..<\(classes)")
        }
        split.labels = labels
        return split
    }

    /// Loads an IDX image file alone (unlabelled images, scaled to [0, 1]); every label is 0.
    /// - Throws: `DatasetError` for an unreadable or malformed file.
    public static func loadImages(_ path: String) throws -> DataSplit {
        let (dimensions, pixels) = try read(path, expectedRank: 3)
        return DataSplit(inputs: pixels.map { Float($0) / 255 }, labels: Array(repeating: 0, count: dimensions[0]),
                         itemShape: [1, dimensions[1], dimensions[2]])
    }

    /// Finds `base` or `base.gz` in `folder`.
    static func locate(_ base: String, in folder: String) throws -> String {
        for candidate in [base + ".gz", base] where FileManager.default.fileExists(atPath: folder + "/" + candidate) {
            return folder + "/" + candidate
        }
        throw DatasetError("\(folder): missing \(base).gz (or \(base))")
    }
}

extension Dataset {
    /// The default location of Debian's `dataset-fashion-mnist` package.
    public static let fashionMNISTFolder = "/usr/share/datasets/fashion-mnist"

    public static let fashionMNISTClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 grey 28×28 images of 10 clothing classes.
    /// - Throws: `DatasetError`; a missing folder names the apt package that provides it.
    public static func fashionMNIST(folder: String = fashionMNISTFolder) throws -> Dataset {
        try idx(name: "fashion-mnist", folder: folder, classNames: fashionMNISTClassNames,
                package: folder == fashionMNISTFolder ? "dataset-fashion-mnist" : nil)
    }

    /// MNIST or any IDX set laid out as `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
    /// `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte` (each optionally `.gz`) in `folder`.
    /// - Parameter package: the Debian package that provides the folder, named in the error when missing.
    public static func idx(name: String, folder: String, classNames: [String] = (0..<10).map(String.init),
                           package: String? = nil) throws -> Dataset {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            let hint = package.map { "; install it with: apt-get install \($0)" } ?? ""
            throw DatasetError("dataset folder \(folder) does not exist\(hint)")
        }
        let train = try IDXReader.loadSplit(images: IDXReader.locate("train-images-idx3-ubyte", in: folder),
                                            labels: IDXReader.locate("train-labels-idx1-ubyte", in: folder),
                                            classes: classNames.count)
        let test = try IDXReader.loadSplit(images: IDXReader.locate("t10k-images-idx3-ubyte", in: folder),
                                           labels: IDXReader.locate("t10k-labels-idx1-ubyte", in: folder),
                                           classes: classNames.count)
        return Dataset(name: name, train: train, test: test, classNames: classNames, valueRange: 0...1)
    }
}
