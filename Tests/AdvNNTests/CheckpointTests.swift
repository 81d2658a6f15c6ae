import AdvNN
import AdvTestSupport
import Foundation
import Testing

@Suite struct CheckpointTests {
    @Test func safetensorsLayoutIsTheStandardOne() throws {
        let file = SafeTensors(tensors: ["b": Tensor(shape: Shape(2), scalars: [1, 2]),
                                         "a": Tensor(shape: Shape(1, 1), scalars: [-3])],
                               metadata: ["model": "{\"x\":1}"])
        let bytes = file.serialized()
        let headerLength = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        #expect((8 + headerLength) % 8 == 0)
        let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<8 + headerLength])) as! [String: Any]
        let a = header["a"] as! [String: Any], b = header["b"] as! [String: Any]
        #expect(a["dtype"] as? String == "F32" && a["shape"] as? [Int] == [1, 1] && a["data_offsets"] as? [Int] == [0, 4])
        #expect(b["data_offsets"] as? [Int] == [4, 12])
        #expect((header["__metadata__"] as? [String: String])?["model"] == "{\"x\":1}")
        // raw little-endian float32 data follows the header: -3, then 1, 2
        let data = Array(bytes[(8 + headerLength)...])
        #expect(data == [0x00, 0x00, 0x40, 0xC0, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40])
        let parsed = try SafeTensors.parse(bytes, source: "memory")
        #expect(parsed.tensors["b"]!.scalars == [1, 2] && parsed.metadata == file.metadata)
        // the checksum travels in the metadata: CRC-32 of the tensor index and the data
        #expect((header["__metadata__"] as? [String: String])?[SafeTensors.checksumKey]?.count == 8)
    }

    /// Any changed byte of the data, or a changed shape in the index, fails the checksum; a file
    /// without one (PyTorch's) is read unchecked.
    @Test func theChecksumCatchesChangedDataAndIndex() throws {
        let file = SafeTensors(tensors: ["w": Tensor(shape: Shape(2, 2), scalars: [1, 2, 3, 4])], integers: ["n": IntegerTensor([7])])
        let bytes = file.serialized()
        for position in [bytes.count - 1, bytes.count - 12] {
            var flipped = bytes
            flipped[position] ^= 0x01
            expectError(containing: ["memory", "corrupt", "CRC-32"]) { _ = try SafeTensors.parse(flipped, source: "memory") }
        }
        // the header is ASCII: edit it in place, keeping its length, and keep the data as it is
        let headerEnd = 8 + Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        func withHeader(_ edit: (String) -> String) -> [UInt8] {
            let header = Array(edit(String(decoding: bytes[8..<headerEnd], as: UTF8.self)).utf8)
            precondition(header.count == headerEnd - 8, "the edit changed the header's length")
            return Array(bytes[0..<8]) + header + bytes[headerEnd...]
        }
        // [2,2] → [4,1] keeps the header valid JSON and the offsets consistent: only the checksum sees it
        let reshaped = withHeader { $0.replacingOccurrences(of: "\"shape\":[2,2]", with: "\"shape\":[4,1]") }
        expectError(containing: ["corrupt"]) { _ = try SafeTensors.parse(reshaped, source: "memory") }
        // without a checksum (as PyTorch writes) the same bytes read as they are
        let unchecked = withHeader { header in
            header.replacingOccurrences(of: "\"advd.crc32\":\"[0-9a-f]{8}\"", with: "\"format\":\"pt__________\"", options: .regularExpression)
        }
        #expect(try SafeTensors.parse(unchecked, source: "memory").tensors["w"]?.scalars == [1, 2, 3, 4])
    }

    @Test func modelTensorsFollowPyTorchNames() throws {
        var rng = RandomStream(seed: 1)
        let cnn = try ModelSpec(architecture: "cnn-small", inputShape: [1, 28, 28], classes: 10).build(rng: &rng)
        let names = Dictionary(uniqueKeysWithValues: ModelCheckpoint.stateTensors(of: cnn).map { ($0.name, $0.tensor.shape) })
        #expect(names == ["0.weight": Shape(32, 1, 5, 5), "0.bias": Shape(32), "3.weight": Shape(64, 32, 5, 5), "3.bias": Shape(64),
                          "7.weight": Shape(1024, 3136), "7.bias": Shape(1024), "9.weight": Shape(10, 1024), "9.bias": Shape(10)])
        let resnet = try ModelSpec(architecture: "preact-resnet", inputShape: [3, 32, 32], classes: 10).build(rng: &rng)
        let resnetNames = Set(ModelCheckpoint.stateTensors(of: resnet).map(\.name))
        #expect(resnetNames.isSuperset(of: ["0.weight", "1.bn1.running_mean", "1.conv1.weight", "2.shortcut.0.weight",
                                            "4.running_var", "7.weight"]))
    }

    @Test func modelRoundTripsThroughAFile() throws {
        let folder = TemporaryFolder()
        var rng = RandomStream(seed: 2)
        let spec = ModelSpec(architecture: "preact-resnet", inputShape: [3, 8, 8], classes: 4, widths: [4, 8], blocksPerStage: 1)
        let model = try spec.build(rng: &rng)
        let norm = model.layers[3] as! BatchNorm
        norm.runningMean.fill(0.25)
        try ModelCheckpoint.save(model, spec: spec, to: folder.file("model.safetensors"))
        let (loaded, loadedSpec) = try ModelCheckpoint.load(from: folder.file("model.safetensors"))
        #expect(loadedSpec == spec)
        for ((name, original), (_, copy)) in zip(ModelCheckpoint.stateTensors(of: model), ModelCheckpoint.stateTensors(of: loaded)) {
            #expect(original.scalars == copy.scalars, "\(name)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["model.safetensors"])
    }

    @Test func shapeMismatchIsReportedByName() throws {
        let folder = TemporaryFolder()
        var rng = RandomStream(seed: 3)
        let spec = ModelSpec(architecture: "mlp", inputShape: [6], classes: 3, hidden: [5])
        var file = ModelCheckpoint.contents(of: try spec.build(rng: &rng), spec: spec)
        file.tensors["1.weight"] = Tensor(zeros: Shape(4, 6))
        file.tensors["9.extra"] = Tensor(zeros: Shape(1))
        file.tensors["3.bias"] = nil
        try file.write(to: folder.file("bad.safetensors"))
        expectError(containing: ["bad.safetensors", "tensor 1.weight has shape [4, 6], expected [5, 6]",
                                              "missing tensor 3.bias [3]", "unexpected tensor 9.extra"]) {
            _ = try ModelCheckpoint.load(from: folder.file("bad.safetensors"))
        }
    }

    @Test func truncatedAndForeignFilesAreRejected() throws {
        let folder = TemporaryFolder()
        let bytes = SafeTensors(tensors: ["w": Tensor(zeros: Shape(100))]).serialized()
        #expect(FileManager.default.createFile(atPath: folder.file("cut.safetensors"), contents: Data(bytes.dropLast(8))))
        expectError(containing: ["cut.safetensors", "tensor w", "do not fit"]) {
            _ = try SafeTensors.read(from: folder.file("cut.safetensors"))
        }
        #expect(FileManager.default.createFile(atPath: folder.file("junk.safetensors"), contents: Data([1, 0, 0, 0, 0, 0, 0, 0, 0x7B])))
        expectError(containing: ["junk.safetensors", "not valid JSON"]) {
            _ = try SafeTensors.read(from: folder.file("junk.safetensors"))
        }
        try SafeTensors(tensors: ["w": Tensor(zeros: Shape(1))]).write(to: folder.file("plain.safetensors"))
        expectError(containing: ["plain.safetensors", "not an advd model file"]) {
            _ = try ModelCheckpoint.load(from: folder.file("plain.safetensors"))
        }
    }

    @Test func atomicWriteReplacesWholeFilesAndLeavesNoTemporaries() throws {
        let folder = TemporaryFolder()
        let path = folder.file("state.bin")
        try AtomicFile.write([1, 2, 3], to: path)
        try AtomicFile.write([4, 5], to: path)
        #expect(FileManager.default.contents(atPath: path) == Data([4, 5]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["state.bin"])
        expectError(containing: ["/nonexistent-folder/", "create failed"]) {
            try AtomicFile.write([1], to: "/nonexistent-folder/x.bin")
        }
    }
}
