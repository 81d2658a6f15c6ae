import CZlib
import Foundation

/// The safetensors format (Hugging Face), which any Python user can open with `safetensors.torch.load_file`:
///
///     [8 bytes: header length L, little-endian u64][L bytes: JSON header][raw tensor data]
///
/// The header maps each tensor name to `{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}`
/// (offsets into the data section) and may hold `"__metadata__"`, a string→string map.
///
/// Integrity: advd records in `__metadata__["advd.crc32"]` a CRC-32 of the tensor index (every
/// tensor's name, dtype, shape and offsets, as written) and of the whole data section, and `parse`
/// verifies it, so one flipped bit in a checkpoint is an error, not a silently different model. Files
/// without it (written by PyTorch or an older advd) are read unchecked. advd writes
/// float32 tensors (and int64 ones for indices and labels), sorted by name, with the header padded by
/// spaces to an 8-byte boundary.
public struct SafeTensors {
    /// The float32 tensors by name.
    public var tensors: [String: Tensor]
    /// The int64 tensors by name (indices, labels: what PyTorch keeps as `torch.long`).
    public var integers: [String: IntegerTensor]
    /// Free-form string metadata (`__metadata__`).
    public var metadata: [String: String]

    public init(tensors: [String: Tensor] = [:], integers: [String: IntegerTensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.integers = integers
        self.metadata = metadata
    }

    /// The metadata key of the checksum.
    public static let checksumKey = "advd.crc32"

    /// The file's bytes.
    public func serialized() -> [UInt8] {
        let names = (Array(tensors.keys) + Array(integers.keys)).sorted()
        var entries: [String] = []
        var offset = 0
        for name in names {
            let (dtype, dimensions, size): (String, [Int], Int)
            if let tensor = tensors[name] {
                (dtype, dimensions, size) = ("F32", tensor.shape.dimensions, tensor.count * MemoryLayout<Float>.size)
            } else {
                let integer = integers[name]!
                (dtype, dimensions, size) = ("I64", integer.shape, integer.values.count * MemoryLayout<Int64>.size)
            }
            entries.append(Self.entry(name, dtype: dtype, shape: dimensions, offsets: (offset, offset + size)))
            offset += size
        }
        var data: [UInt8] = []
        data.reserveCapacity(offset)
        for name in names {
            // little-endian on every platform Swift on Linux runs on; checked once at load time too
            if let tensor = tensors[name] {
                data += UnsafeRawBufferPointer(start: tensor.data, count: tensor.count * MemoryLayout<Float>.size)
            } else {
                integers[name]!.values.withUnsafeBytes { data += $0 }
            }
        }
        var metadata = self.metadata
        metadata[Self.checksumKey] = Self.checksum(index: entries, data: data)
        let pairs = metadata.keys.sorted().map { "\(Self.quoted($0)):\(Self.quoted(metadata[$0]!))" }
        entries.insert("\"__metadata__\":{\(pairs.joined(separator: ","))}", at: 0)
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes += $0 }
        bytes += header
        bytes += data
        return bytes
    }

    /// Writes the file atomically (temporary file, fsync, rename, fsync of the folder).
    public func write(to path: String) throws {
        try AtomicFile.write(serialized(), to: path)
    }

    /// Reads a safetensors file with float32 (and int64) tensors.
    /// - Throws: `CheckpointError` naming the file for a truncated file, a malformed header, an
    ///   unsupported dtype or offsets outside the data.
    public static func read(from path: String) throws -> SafeTensors {
        let bytes: [UInt8]
        do { bytes = try FileAccess.readAll(path) } catch { throw CheckpointError("\(error)") }
        return try parse(bytes, source: path)
    }

    /// Parses safetensors bytes; `source` names them in errors.
    public static func parse(_ bytes: [UInt8], source: String) throws -> SafeTensors {
        guard bytes.count >= 8 else { throw CheckpointError("\(source): truncated (\(bytes.count) bytes, no header length)") }
        let headerLength = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            // the length is the file's first 8 bytes: it is not shown (the file may not be a safetensors file at all)
            throw CheckpointError("\(source): not a safetensors file, or truncated: its header length exceeds the file (\(bytes.count) bytes)")
        }
        let dataStart = 8 + Int(headerLength)
        let headerObject: Any
        do {
            headerObject = try JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart]))
        } catch {
            throw CheckpointError("\(source): not a safetensors file: its header is not valid JSON")
        }
        guard let header = headerObject as? [String: Any] else { throw CheckpointError("\(source): header is not a JSON object") }
        var result = SafeTensors()
        var index: [(name: String, entry: String)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let metadata = value as? [String: String] else {
                    throw CheckpointError("\(source): __metadata__ must map strings to strings")
                }
                result.metadata = metadata
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw CheckpointError("\(source): tensor \(name) has a malformed header entry") }
            guard dtype == "F32" || dtype == "I64" else {
                throw CheckpointError("\(source): tensor \(name) has dtype \(dtype); advd reads F32 (and I64) tensors only")
            }
            guard shape.count <= Shape.maxRank, shape.allSatisfy({ $0 >= 0 }) else {
                throw CheckpointError("\(source): tensor \(name) has unsupported shape \(shape)")
            }
            let elementCount = shape.reduce(1, *), elementSize = dtype == "F32" ? 4 : 8
            guard offsets[0] >= 0, offsets[1] - offsets[0] == elementCount * elementSize, dataStart + offsets[1] <= bytes.count else {
                throw CheckpointError("\(source): tensor \(name) \(shape) has data offsets \(offsets) that do not fit the file (truncated?)")
            }
            index.append((name, Self.entry(name, dtype: dtype, shape: shape, offsets: (offsets[0], offsets[1]))))
            if dtype == "I64" {
                var values = [Int64](repeating: 0, count: elementCount)
                values.withUnsafeMutableBytes { target in
                    bytes.withUnsafeBytes { target.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[(dataStart + offsets[0])...].prefix(elementCount * 8))) }
                }
                result.integers[name] = IntegerTensor(shape: shape, values: values)
                continue
            }
            let tensor = Tensor(zeros: Shape(shape))
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawPointer(tensor.data).copyMemory(from: raw.baseAddress! + dataStart + offsets[0], byteCount: elementCount * 4)
            }
            result.tensors[name] = tensor
        }
        if let recorded = result.metadata.removeValue(forKey: checksumKey) {
            let actual = checksum(index: index.sorted { $0.name < $1.name }.map(\.entry), data: bytes[dataStart...])
            guard actual == recorded else {
                throw CheckpointError("\(source): corrupt: its contents do not match the checksum written with them (CRC-32 \(actual), recorded \(recorded))")
            }
        }
        return result
    }

    /// A tensor's entry in the header, exactly as `serialized` writes it.
    private static func entry(_ name: String, dtype: String, shape: [Int], offsets: (Int, Int)) -> String {
        "\(quoted(name)):{\"dtype\":\"\(dtype)\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offsets.0),\(offsets.1)]}"
    }

    /// CRC-32 (zlib's) of the tensor index and the data section, as 8 hex digits.
    private static func checksum<Data: Collection>(index: [String], data: Data) -> String where Data.Element == UInt8 {
        var crc = crc32(0, nil, 0)
        for entry in index {
            let bytes = Array(entry.utf8)
            crc = bytes.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt($0.count)) }
        }
        crc = data.withContiguousStorageIfAvailable { crc32(crc, $0.baseAddress, uInt($0.count)) }
            ?? Array(data).withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt($0.count)) }
        return String(format: "%08x", UInt32(crc))
    }

    /// A JSON string literal.
    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// An int64 tensor of a safetensors file: its shape and its values, row-major.
public struct IntegerTensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Int64]

    public init(shape: [Int], values: [Int64]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.shape = shape
        self.values = values
    }

    /// A vector of integers.
    public init(_ values: [Int]) {
        self.init(shape: [values.count], values: values.map(Int64.init))
    }
}
