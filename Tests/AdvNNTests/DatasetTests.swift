import AdvNN
import AdvTestSupport
import CZlib
import Foundation
import Testing

/// The dataset readers on small files in the real formats that the tests write, including broken ones.
@Suite struct DatasetTests {
    static func writeGzip(_ bytes: [UInt8], to path: String) {
        let file = gzopen(path, "wb")
        bytes.withUnsafeBytes { _ = gzwrite(file, $0.baseAddress, UInt32($0.count)) }
        gzclose(file)
    }

    /// A four-file IDX set with `train` and `test` images of 2×3 pixels.
    static func writeIDXSet(in folder: TemporaryFolder, train: Int = 5, test: Int = 3, gzip: Bool = true) {
        IDXFiles.writeImageSet(in: folder, height: 2, width: 3, train: train, test: test,
                               write: gzip ? { bytes, name in writeGzip(bytes, to: folder.file(name + ".gz")) } : nil)
    }

    @Test(arguments: [true, false])
    func readsIDXSets(gzip: Bool) throws {
        let folder = TemporaryFolder()
        Self.writeIDXSet(in: folder, gzip: gzip)
        let data = try Dataset.idx(name: "tiny", folder: folder.path)
        #expect(data.train.count == 5 && data.test.count == 3)
        #expect(data.itemShape == [1, 2, 3])
        #expect(data.train.labels == [0, 1, 2, 3, 4])
        #expect(data.train.inputs[7] == 7 / 255 && data.valueRange == 0...1)
    }

    @Test func missingFolderNamesTheAptPackage() {
        expectError(containing: ["/nonexistent/fashion", "does not exist"]) {
            _ = try Dataset.idx(name: "x", folder: "/nonexistent/fashion")
        }
        if !FileManager.default.fileExists(atPath: Dataset.fashionMNISTFolder) {
            expectError(containing: ["apt-get install dataset-fashion-mnist"]) { _ = try Dataset.fashionMNIST() }
        }
    }

    @Test func wrongMagicNumber() {
        let folder = TemporaryFolder()
        Self.writeIDXSet(in: folder)
        Self.writeGzip([1, 2, 3, 4, 5, 6, 7, 8], to: folder.file("train-images-idx3-ubyte.gz"))
        expectError(containing: ["train-images-idx3-ubyte.gz", "wrong magic number"]) {
            _ = try Dataset.idx(name: "x", folder: folder.path)
        }
    }

    @Test func truncatedImages() {
        let folder = TemporaryFolder()
        Self.writeIDXSet(in: folder)
        Self.writeGzip(IDXFiles.bytes(dimensions: [5, 2, 3], data: [UInt8](repeating: 1, count: 29)),
                       to: folder.file("train-images-idx3-ubyte.gz"))
        expectError(containing: ["train-images-idx3-ubyte.gz", "truncated", "needs 46 bytes", "has 45"]) {
            _ = try Dataset.idx(name: "x", folder: folder.path)
        }
    }

    @Test func truncatedGzipStream() throws {
        let folder = TemporaryFolder()
        Self.writeIDXSet(in: folder, train: 200)
        let path = folder.file("train-images-idx3-ubyte.gz")
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: path))
        expectError(containing: ["train-images-idx3-ubyte.gz", "truncated"]) {
            _ = try Dataset.idx(name: "x", folder: folder.path)
        }
    }

    @Test func labelCountMismatch() {
        let folder = TemporaryFolder()
        Self.writeIDXSet(in: folder)
        Self.writeGzip(IDXFiles.bytes(dimensions: [4], data: [0, 1, 2, 3]), to: folder.file("train-labels-idx1-ubyte.gz"))
        expectError(containing: ["5 images", "4 labels", "train-labels-idx1-ubyte.gz"]) {
            _ = try Dataset.idx(name: "x", folder: folder.path)
        }
    }

    @Test func missingFileInFolder() throws {
        let folder = TemporaryFolder()
        Self.writeIDXSet(in: folder)
        try FileManager.default.removeItem(atPath: folder.file("t10k-labels-idx1-ubyte.gz"))
        expectError(containing: ["missing t10k-labels-idx1-ubyte"]) { _ = try Dataset.idx(name: "x", folder: folder.path) }
    }

    static func cifarRecords(_ labels: [UInt8]) -> Data {
        var bytes: [UInt8] = []
        for (index, label) in labels.enumerated() {
            bytes.append(label)
            bytes += (0..<3072).map { UInt8(($0 + index) % 256) }
        }
        return Data(bytes)
    }

    @Test func readsCIFAR10Batches() throws {
        let folder = TemporaryFolder()
        for index in 1...5 {
            #expect(FileManager.default.createFile(atPath: folder.file("data_batch_\(index).bin"), contents: Self.cifarRecords([UInt8(index), 9])))
        }
        #expect(FileManager.default.createFile(atPath: folder.file("test_batch.bin"), contents: Self.cifarRecords([3])))
        let data = try Dataset.cifar10(folder: folder.path)
        #expect(data.train.count == 10 && data.test.count == 1 && data.itemShape == [3, 32, 32])
        #expect(data.train.labels == [1, 9, 2, 9, 3, 9, 4, 9, 5, 9] && data.test.labels == [3])
        // channel-major: the first 1024 values are red, pixel (0, 1) of record 0 is byte 1
        #expect(data.train.inputs[1] == 1 / 255 && data.train.inputs[1024] == Float(1024 % 256) / 255)
        #expect(data.classNames[0] == "airplane")
    }

    @Test func truncatedCIFARBatch() {
        let folder = TemporaryFolder()
        #expect(FileManager.default.createFile(atPath: folder.file("data_batch_1.bin"), contents: Self.cifarRecords([1]).dropLast(5)))
        expectError(containing: ["data_batch_1.bin", "3068 bytes", "3073-byte"]) { _ = try Dataset.cifar10(folder: folder.path) }
    }

    @Test func tsiprasModelHasTheStatedStatistics() {
        let data = Dataset.tsipras(dimensions: 50, p: 0.9, eta: 0.5, trainCount: 4000, testCount: 10, seed: 5)
        let d = 50
        var robustAgrees = 0, weakSum = 0.0
        for n in 0..<data.train.count {
            let y: Float = data.train.labels[n] == 1 ? 1 : -1
            if data.train.inputs[n * d] == y { robustAgrees += 1 }
            for j in 1..<d { weakSum += Double(data.train.inputs[n * d + j] * y) }
        }
        #expect(abs(Double(robustAgrees) / 4000 - 0.9) < 0.02)
        #expect(abs(weakSum / Double(4000 * (d - 1)) - 0.5) < 0.02)     // E[x_j·y] = η
        #expect(data.valueRange == nil)
        let again = Dataset.tsipras(dimensions: 50, p: 0.9, eta: 0.5, trainCount: 4000, testCount: 10, seed: 5)
        #expect(again.train.inputs == data.train.inputs)
    }

    @Test func blobsAreSeededAndBalancedEnough() {
        let data = Dataset.gaussianBlobs(classes: 3, dimensions: 4, separation: 3, spread: 0.5, trainCount: 900, testCount: 30, seed: 2)
        #expect(data.classCount == 3 && data.itemShape == [4])
        for label in 0..<3 { #expect(data.train.labels.filter { $0 == label }.count > 240) }
        let other = Dataset.gaussianBlobs(classes: 3, dimensions: 4, separation: 3, spread: 0.5, trainCount: 900, testCount: 30, seed: 3)
        #expect(other.train.inputs != data.train.inputs)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: Dataset.fashionMNISTFolder), "needs dataset-fashion-mnist"))
    func fashionMNISTFromTheDebianPackage() throws {
        let data = try Dataset.fashionMNIST()
        #expect(data.train.count == 60_000 && data.test.count == 10_000 && data.itemShape == [1, 28, 28])
        #expect(data.train.inputs.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(Set(data.test.labels).count == 10)
    }

    @Test func validationIsCarvedFromTheEndOfTheTrainingSplit() {
        let data = Dataset.gaussianBlobs(classes: 3, dimensions: 4, separation: 1, spread: 1, trainCount: 50, testCount: 20, seed: 1)
        let held = data.holdingOutValidation(10)
        #expect(held.train.count == 40 && held.validation.count == 10 && held.test.count == 20)
        #expect(held.train.inputs == Array(data.train.inputs[0..<40 * 4]))
        #expect(held.validation.inputs == Array(data.train.inputs[40 * 4..<50 * 4]))
        #expect(held.validation.labels == Array(data.train.labels[40...]))
        #expect(held.test.inputs == data.test.inputs)
        // never every training example: one always trains
        #expect(data.holdingOutValidation(500).train.count == 1)
    }

    /// What a daemon's job may read: beneath its roots, and from the job folders only other jobs'
    /// trained models; paths are compared after every link is resolved.
    @Test func theReadPolicyAllowsOnlyTheRootsAndOtherJobsModels() throws {
        let folder = TemporaryFolder()
        try FileManager.default.createDirectory(atPath: folder.file("data"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder.file("state/jobs/7"), withIntermediateDirectories: true)
        let policy = ReadPolicy(roots: [folder.file("data"), folder.file("state/jobs/9")], jobsFolder: folder.file("state/jobs"))
        let real = ReadPolicy.resolved(folder.path)
        #expect(policy.allows(resolvedPath: real + "/data/train-images-idx3-ubyte.gz"))
        #expect(policy.allows(resolvedPath: real + "/state/jobs/7/model.safetensors"))
        #expect(policy.allows(resolvedPath: real + "/state/jobs/9/checkpoints/step-00000010.safetensors"))   // its own folder
        #expect(!policy.allows(resolvedPath: real + "/state/jobs/7/checkpoints/step-00000010.safetensors"))
        #expect(!policy.allows(resolvedPath: real + "/state/advd.sqlite"))
        #expect(!policy.allows(resolvedPath: real + "/database"))   // a sibling whose name starts like a root
        #expect(!policy.allows(resolvedPath: "/etc/shadow"))
    }
}
