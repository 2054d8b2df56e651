import Foundation
import JSON

/// The element types a safetensors file may hold that Tally reads.
public enum TensorDataType: String, Sendable {
    case float64 = "F64"
    case float32 = "F32"
    case float16 = "F16"
    case bfloat16 = "BF16"
    case int64 = "I64"
    case int32 = "I32"

    public var byteCount: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16: return 2
        }
    }
}

/// One tensor's entry in a safetensors header.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dataType: TensorDataType
    public let shape: [Int]
    /// Byte range within the data section (after the header).
    public let byteRange: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A safetensors file (Hugging Face's format): an 8-byte little-endian header length, a JSON
/// header naming each tensor's dtype, shape and byte offsets, then the raw little-endian data.
///
/// Everything is validated on load: the header length against the file size, the JSON, every
/// dtype, that each tensor's byte range matches its shape and lies inside the file, and that
/// no two tensors overlap. A truncated or corrupt file is an error naming the file, never a crash.
public struct SafeTensorsFile: Sendable {
    public let path: String
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    /// The largest header accepted: real headers are a few hundred kilobytes.
    static let maxHeaderBytes = 100 << 20

    /// Maps the file rather than reading it: a checkpoint of a billion parameters would
    /// otherwise be held twice while its tensors are copied into the model.
    public init(path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw CheckpointError("\(path): cannot read the file", kind: .unreadable)
        }
        try self.init(data: data, path: path)
    }

    public init(data: Data, path: String) throws {
        self.path = path
        self.data = data
        guard data.count >= 8 else { throw CheckpointError("\(path): too short to be a safetensors file (\(data.count) bytes)") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(Self.maxHeaderBytes), Int(headerLength) <= data.count - 8 else {
            throw CheckpointError("\(path): the header claims \(headerLength) bytes but the file has \(data.count - 8) after the length; the file is truncated or not safetensors")
        }
        dataStart = 8 + Int(headerLength)
        let header: JSONValue
        do {
            header = try JSONParser.parse(Array(data[8..<dataStart]))
        } catch {
            throw CheckpointError("\(path): the header is not valid JSON (\(error))")
        }
        guard case .object(let entries) = header else { throw CheckpointError("\(path): the header is not a JSON object") }
        let dataLength = data.count - dataStart
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, entry) in entries {
            if name == "__metadata__" {
                guard case .object(let pairs) = entry else { throw CheckpointError("\(path): __metadata__ is not an object") }
                for (key, value) in pairs {
                    guard case .string(let text) = value else { throw CheckpointError("\(path): metadata '\(key)' is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard case .string(let typeName)? = entry["dtype"] else { throw CheckpointError("\(path): tensor '\(name)' has no dtype") }
            guard let dataType = TensorDataType(rawValue: typeName) else {
                throw CheckpointError("\(path): tensor '\(name)' has dtype \(typeName), which Tally does not read (F64, F32, F16, BF16, I64, I32)", kind: .unsupported)
            }
            guard case .array(let shapeValues)? = entry["shape"] else { throw CheckpointError("\(path): tensor '\(name)' has no shape") }
            var shape: [Int] = []
            for value in shapeValues {
                guard case .integer(let dimension) = value, dimension >= 0, dimension < 1 << 40 else {
                    throw CheckpointError("\(path): tensor '\(name)' has an invalid shape")
                }
                shape.append(Int(dimension))
            }
            guard case .array(let offsets)? = entry["data_offsets"], offsets.count == 2,
                  case .integer(let begin) = offsets[0], case .integer(let end) = offsets[1],
                  begin >= 0, begin <= end, end <= Int64(dataLength) else {
                throw CheckpointError("\(path): tensor '\(name)' has data offsets outside the file's \(dataLength) data bytes; the file is truncated or corrupt")
            }
            let elementCount = shape.reduce(1, *)
            guard Int(end - begin) == elementCount * dataType.byteCount else {
                throw CheckpointError("\(path): tensor '\(name)' of shape \(shape) and dtype \(typeName) needs \(elementCount * dataType.byteCount) bytes but has \(end - begin)")
            }
            tensors[name] = TensorInfo(name: name, dataType: dataType, shape: shape, byteRange: Int(begin)..<Int(end))
        }
        let sorted = tensors.values.sorted { $0.byteRange.lowerBound < $1.byteRange.lowerBound }
        for (first, second) in zip(sorted, sorted.dropFirst()) where first.byteRange.upperBound > second.byteRange.lowerBound {
            throw CheckpointError("\(path): tensors '\(first.name)' and '\(second.name)' overlap")
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    public func info(_ name: String) throws -> TensorInfo {
        guard let info = tensors[name] else { throw CheckpointError("\(path): no tensor named '\(name)'") }
        return info
    }

    /// The tensor's elements converted to Float, whatever its floating-point dtype.
    public func floats(_ name: String) throws -> [Float] {
        let count = try info(name).elementCount
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try floats(name, into: buffer)
            initialized = count
        }
    }

    /// Converts the tensor's elements to Float straight into `destination` (its element count
    /// long), so loading a large embedding makes no temporary copy of it.
    public func floats(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let info = try info(name)
        precondition(destination.count == info.elementCount, "the destination must hold the tensor's \(info.elementCount) elements")
        try withBytes(of: info) { bytes in
            let out = destination.baseAddress!
            switch info.dataType {
            case .float32: for i in 0..<info.elementCount { out[i] = Float(bitPattern: bytes.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian) }
            case .float64: for i in 0..<info.elementCount { out[i] = Float(Double(bitPattern: bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self).littleEndian)) }
            case .float16: for i in 0..<info.elementCount { out[i] = Float(Float16(bitPattern: bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian)) }
            case .bfloat16: for i in 0..<info.elementCount { out[i] = Float(bitPattern: UInt32(bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian) << 16) }
            case .int32, .int64: throw CheckpointError("\(path): tensor '\(name)' holds integers, not floating-point numbers")
            }
        }
    }

    /// The tensor's elements as Double (reference values in tests are float64).
    public func doubles(_ name: String) throws -> [Double] {
        let info = try info(name)
        guard info.dataType == .float64 else { return try floats(name).map(Double.init) }
        return try withBytes(of: info) { bytes in
            (0..<info.elementCount).map { Double(bitPattern: bytes.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self).littleEndian) }
        }
    }

    public func integers(_ name: String) throws -> [Int] {
        let info = try info(name)
        return try withBytes(of: info) { bytes in
            switch info.dataType {
            case .int32: return (0..<info.elementCount).map { Int(Int32(bitPattern: bytes.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self).littleEndian)) }
            case .int64: return (0..<info.elementCount).map { Int(Int64(bitPattern: bytes.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self).littleEndian)) }
            default: throw CheckpointError("\(path): tensor '\(name)' does not hold integers")
            }
        }
    }

    private func withBytes<Result>(of info: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result {
        let range = (dataStart + info.byteRange.lowerBound)..<(dataStart + info.byteRange.upperBound)
        return try data[range].withUnsafeBytes(body)
    }
}

/// Writes float32 tensors as a safetensors file, atomically (a temporary file renamed into place).
public enum SafeTensorsWriter {
    public struct Tensor {
        public let name: String
        public let shape: [Int]
        public let values: UnsafeBufferPointer<Float>

        public init(name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
            precondition(shape.reduce(1, *) == values.count, "tensor \(name): shape \(shape) does not match \(values.count) values")
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    public static func write(_ tensors: [Tensor], metadata: [String: String] = [:], to path: String) throws {
        var members: [(key: String, value: JSONValue)] = []
        var offset = 0
        for tensor in tensors {
            let length = tensor.values.count * 4
            members.append((tensor.name, .object([
                ("dtype", .string("F32")),
                ("shape", .array(tensor.shape.map { .integer(Int64($0)) })),
                ("data_offsets", .array([.integer(Int64(offset)), .integer(Int64(offset + length))])),
            ])))
            offset += length
        }
        if !metadata.isEmpty {
            members.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var header: [UInt8] = []
        JSONWriter.write(.object(members), into: &header)
        // The data section starts 8-byte aligned, padded with spaces as the format allows.
        while (8 + header.count) % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var output = Data(capacity: 8 + header.count + offset)
        var length = UInt64(header.count).littleEndian
        withUnsafeBytes(of: &length) { output.append(contentsOf: $0) }
        output.append(contentsOf: header)
        for tensor in tensors {
            if Int(1).littleEndian == 1 {
                output.append(UnsafeBufferPointer(start: UnsafeRawPointer(tensor.values.baseAddress!).assumingMemoryBound(to: UInt8.self), count: tensor.values.count * 4))
            } else {
                for value in tensor.values {
                    var bits = value.bitPattern.littleEndian
                    withUnsafeBytes(of: &bits) { output.append(contentsOf: $0) }
                }
            }
        }
        let temporary = path + ".partial"
        do {
            try output.write(to: URL(fileURLWithPath: temporary))
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: temporary, toPath: path)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw CheckpointError("\(path): cannot write the checkpoint (\(error.localizedDescription))")
        }
    }
}
