import Foundation
import Testing

/// Small image sets in MNIST's IDX layout, which the tests write for the readers and for runs on images.
public enum IDXFiles {
    /// An unsigned-byte IDX file: magic 0x0000080N, big-endian dimensions, data.
    public static func bytes(dimensions: [Int], data: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
        for dimension in dimensions { bytes += (0..<4).map { UInt8(truncatingIfNeeded: dimension >> (8 * (3 - $0))) } }
        return bytes + data
    }

    /// The four files of a set (train-images-idx3-ubyte, train-labels-idx1-ubyte and their t10k-
    /// twins) with `train` and `test` images of height × width pixels counting up byte by byte, their
    /// labels 0…9 round; `write` stores each file's bytes under its name (by default, uncompressed in
    /// `folder`).
    public static func writeImageSet(in folder: TemporaryFolder, height: Int, width: Int, train: Int, test: Int,
                                     write: ((_ bytes: [UInt8], _ name: String) -> Void)? = nil) {
        let store = write ?? { bytes, name in #expect(FileManager.default.createFile(atPath: folder.file(name), contents: Data(bytes))) }
        let pixels = height * width
        for (prefix, count) in [("train", train), ("t10k", test)] {
            store(Self.bytes(dimensions: [count, height, width], data: (0..<count * pixels).map { UInt8($0 % 256) }),
                  "\(prefix)-images-idx3-ubyte")
            store(Self.bytes(dimensions: [count], data: (0..<count).map { UInt8($0 % 10) }), "\(prefix)-labels-idx1-ubyte")
        }
    }
}
