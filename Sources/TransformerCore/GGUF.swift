import Foundation

/// A metadata value of a GGUF file.
public enum GGUFValue: Sendable, Equatable {
    case unsigned(UInt64)
    case signed(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var integer: Int? {
        switch self {
        case .unsigned(let value): return value <= UInt64(Int.max) ? Int(value) : nil
        case .signed(let value): return Int(value)
        default: return nil
        }
    }

    public var number: Double? {
        switch self {
        case .float(let value): return value
        default: return integer.map(Double.init)
        }
    }

    public var string: String? { if case .string(let value) = self { return value }; return nil }
    public var array: [GGUFValue]? { if case .array(let value) = self { return value }; return nil }
}

/// The tensor element types Tally dequantizes (ggml's numbering).
public enum GGMLType: UInt32, Sendable {
    case float32 = 0
    case float16 = 1
    case q4_1 = 3
    case q8_0 = 8
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case bfloat16 = 30

    /// Elements per block and bytes per block.
    var block: (elements: Int, bytes: Int) {
        switch self {
        case .float32: return (1, 4)
        case .float16, .bfloat16: return (1, 2)
        // f16 scale d, f16 minimum m, 16 bytes of 4-bit values: w = d * q + m.
        case .q4_1: return (32, 20)
        // f16 scale d, 32 signed bytes: w = d * q.
        case .q8_0: return (32, 34)
        // The k-quants (llama.cpp's Q4_K_M and Q5_K_M files mix them): super-blocks of 256 in
        // eight sub-blocks of 32 with 6-bit scales and minimums, or sixteen of 16 with 8-bit scales.
        case .q4_K: return (256, 144)
        case .q5_K: return (256, 176)
        case .q6_K: return (256, 210)
        }
    }
}

/// A GGUF file (version 2 or 3; llama.cpp's format): metadata, a tensor table and the tensors'
/// data, aligned. Every offset and size is checked against the file, so a truncated or damaged
/// file is an error that names it, never a crash. The file is memory-mapped.
public struct GGUFFile: Sendable {
    public struct Tensor: Sendable {
        public let name: String
        /// PyTorch's order: the slowest dimension first (GGUF stores the fastest first).
        public let shape: [Int]
        public let type: UInt32
        /// Byte offset of the data from the start of the file.
        let start: Int
        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let version: Int
    public let metadata: [String: GGUFValue]
    public let tensors: [String: Tensor]
    /// Tensor names in the file's order.
    public let tensorNames: [String]
    private let data: Data

    public init(path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw CheckpointError("\(path): cannot read the GGUF file (\(error.localizedDescription))", kind: .unreadable)
        }
        try self.init(data: data, path: path)
    }

    public init(data: Data, path: String) throws {
        self.path = path
        self.data = data
        var reader = Reader(data: data, path: path)
        guard try reader.unsigned32() == 0x4655_4747 else { throw CheckpointError("\(path): not a GGUF file (the magic number is not 'GGUF')") }
        let version = Int(try reader.unsigned32())
        guard version == 2 || version == 3 else { throw CheckpointError("\(path): GGUF version \(version) is not supported (2 and 3 are)", kind: .unsupported) }
        self.version = version
        let tensorCount = try reader.count("tensor count", limit: 1_000_000)
        let keyCount = try reader.count("metadata count", limit: 1_000_000)
        var metadata: [String: GGUFValue] = [:]
        for _ in 0..<keyCount {
            let key = try reader.string()
            metadata[key] = try reader.value(type: try reader.unsigned32(), key: key, depth: 0)
        }
        self.metadata = metadata
        var entries: [(name: String, shape: [Int], type: UInt32, offset: Int)] = []
        for _ in 0..<tensorCount {
            let name = try reader.string()
            let dimensions = Int(try reader.unsigned32())
            guard (1...4).contains(dimensions) else { throw CheckpointError("\(path): tensor '\(name)' has \(dimensions) dimensions; GGUF allows 1 to 4") }
            var shape: [Int] = []
            for _ in 0..<dimensions { shape.append(try reader.count("a dimension of '\(name)'", limit: 1 << 40)) }
            let type = try reader.unsigned32()
            let offset = try reader.count("the offset of '\(name)'", limit: Int(Int32.max) * 64)
            entries.append((name, shape.reversed(), type, offset))
        }
        let alignment = metadata["general.alignment"]?.integer ?? 32
        guard alignment > 0, alignment & (alignment - 1) == 0 else { throw CheckpointError("\(path): general.alignment \(alignment) is not a power of two") }
        let dataStart = (reader.position + alignment - 1) / alignment * alignment
        var tensors: [String: Tensor] = [:]
        for entry in entries {
            guard tensors[entry.name] == nil else { throw CheckpointError("\(path): tensor '\(entry.name)' appears twice") }
            guard entry.offset % alignment == 0 else { throw CheckpointError("\(path): tensor '\(entry.name)' is not aligned to \(alignment) bytes") }
            let tensor = Tensor(name: entry.name, shape: entry.shape, type: entry.type, start: dataStart + entry.offset)
            if let type = GGMLType(rawValue: entry.type) {
                let (elements, bytes) = type.block
                guard tensor.elementCount % elements == 0 else {
                    throw CheckpointError("\(path): tensor '\(entry.name)' has \(tensor.elementCount) elements, not a whole number of \(type) blocks")
                }
                guard tensor.start + tensor.elementCount / elements * bytes <= data.count else {
                    throw CheckpointError("\(path): tensor '\(entry.name)' runs past the end of the file; is it truncated?")
                }
            }
            tensors[entry.name] = tensor
        }
        self.tensors = tensors
        tensorNames = entries.map(\.name)
    }

    /// The tensor's elements as float32, dequantized: F32, F16, BF16, Q8_0, Q4_1, Q4_K, Q5_K and Q6_K.
    public func floats(_ name: String) throws -> [Float] {
        guard let tensor = tensors[name] else { throw CheckpointError("\(path): no tensor named '\(name)'") }
        guard let type = GGMLType(rawValue: tensor.type) else {
            throw CheckpointError("\(path): tensor '\(name)' has ggml type \(tensor.type); Tally reads F32, F16, BF16, Q8_0, Q4_1, Q4_K, Q5_K and Q6_K", kind: .unsupported)
        }
        let count = tensor.elementCount
        var out = [Float](repeating: 0, count: count)
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress! + tensor.start
            func half(_ offset: Int) -> Float { Float(Float16(bitPattern: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self).littleEndian)) }
            out.withUnsafeMutableBufferPointer { out in
                switch type {
                case .float32:
                    for i in 0..<count { out[i] = Float(bitPattern: base.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian) }
                case .float16:
                    for i in 0..<count { out[i] = half(i * 2) }
                case .bfloat16:
                    for i in 0..<count { out[i] = Float(bitPattern: UInt32(base.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian) << 16) }
                case .q8_0:
                    for block in 0..<(count / 32) {
                        let offset = block * 34
                        let scale = half(offset)
                        for j in 0..<32 { out[block * 32 + j] = scale * Float(Int8(bitPattern: base.load(fromByteOffset: offset + 2 + j, as: UInt8.self))) }
                    }
                case .q4_1:
                    for block in 0..<(count / 32) {
                        let offset = block * 20
                        let (scale, minimum) = (half(offset), half(offset + 2))
                        for j in 0..<16 {
                            let byte = base.load(fromByteOffset: offset + 4 + j, as: UInt8.self)
                            out[block * 32 + j] = scale * Float(byte & 0x0F) + minimum
                            out[block * 32 + j + 16] = scale * Float(byte >> 4) + minimum
                        }
                    }
                case .q4_K, .q5_K:
                    // d, dmin, 12 bytes of packed scales and minimums, [q5: 32 bytes of fifth
                    // bits,] 128 bytes of low nibbles: w = d * scale_i * q - dmin * minimum_i.
                    let fifthBits = type == .q5_K
                    for block in 0..<(count / 256) {
                        let offset = block * type.block.bytes
                        let (d, dmin) = (half(offset), half(offset + 2))
                        let scales = (0..<12).map { base.load(fromByteOffset: offset + 4 + $0, as: UInt8.self) }
                        let highBits = offset + 16, nibbles = offset + (fifthBits ? 48 : 16)
                        for subBlock in 0..<8 {
                            let (scale, minimum) = Self.kQuantScaleAndMinimum(scales, subBlock)
                            let (dScale, dMinimum) = (d * Float(scale), dmin * Float(minimum))
                            // Sub-blocks 2c and 2c+1 share 32 bytes: low and high nibbles.
                            let chunk = subBlock / 2, shift = UInt8(4 * (subBlock % 2))
                            for j in 0..<32 {
                                var q = (base.load(fromByteOffset: nibbles + chunk * 32 + j, as: UInt8.self) >> shift) & 0x0F
                                if fifthBits { q |= ((base.load(fromByteOffset: highBits + j, as: UInt8.self) >> UInt8(subBlock)) & 1) << 4 }
                                out[block * 256 + subBlock * 32 + j] = dScale * Float(q) - dMinimum
                            }
                        }
                    }
                case .q6_K:
                    // 128 bytes of low nibbles, 64 of high bit pairs, 16 signed scales, then d:
                    // w = d * scale_(i/16) * (q - 32).
                    for block in 0..<(count / 256) {
                        let offset = block * 210
                        let d = half(offset + 208)
                        for e in 0..<256 {
                            let (half128, within) = (e / 128, e % 128)
                            let low = (base.load(fromByteOffset: offset + half128 * 64 + within % 64, as: UInt8.self) >> UInt8(4 * (within / 64))) & 0x0F
                            let high = (base.load(fromByteOffset: offset + 128 + half128 * 32 + within % 32, as: UInt8.self) >> UInt8(2 * (within / 32))) & 0x03
                            let scale = Int8(bitPattern: base.load(fromByteOffset: offset + 192 + e / 16, as: UInt8.self))
                            out[block * 256 + e] = d * Float(scale) * Float(Int8(low | high << 4) - 32)
                        }
                    }
                }
            }
        }
        return out
    }

    /// The 6-bit scale and minimum of sub-block `i` (0..<8) from Q4_K's and Q5_K's 12 packed
    /// bytes: the first four sub-blocks' in the low six bits of bytes 0-3 and 4-7, the last
    /// four's low four bits in bytes 8-11 and their top two bits in the spare bits of 0-7.
    static func kQuantScaleAndMinimum(_ packed: [UInt8], _ i: Int) -> (scale: UInt8, minimum: UInt8) {
        if i < 4 { return (packed[i] & 0x3F, packed[i + 4] & 0x3F) }
        return ((packed[i + 4] & 0x0F) | ((packed[i - 4] >> 6) << 4), (packed[i + 4] >> 4) | ((packed[i] >> 6) << 4))
    }

    /// A metadata value that must be present, for the error naming what is missing.
    public func required(_ key: String) throws -> GGUFValue {
        guard let value = metadata[key] else { throw CheckpointError("\(path): the metadata lacks '\(key)'") }
        return value
    }

    /// Reads little-endian values with bounds checks.
    private struct Reader {
        let data: Data
        let path: String
        var position = 0

        mutating func bytes(_ count: Int) throws -> Data {
            guard count >= 0, position + count <= data.count else { throw CheckpointError("\(path): the file ends early (at byte \(position)); is it truncated?") }
            defer { position += count }
            return data.subdata(in: (data.startIndex + position)..<(data.startIndex + position + count))
        }

        mutating func load<T: FixedWidthInteger>(_: T.Type) throws -> T {
            let size = MemoryLayout<T>.size
            guard position + size <= data.count else { throw CheckpointError("\(path): the file ends early (at byte \(position)); is it truncated?") }
            defer { position += size }
            return data.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: position, as: T.self)) }
        }

        mutating func unsigned32() throws -> UInt32 { try load(UInt32.self) }

        mutating func count(_ what: String, limit: Int) throws -> Int {
            let value = try load(UInt64.self)
            guard value <= UInt64(limit) else { throw CheckpointError("\(path): \(what) is \(value), beyond any sane file") }
            return Int(value)
        }

        mutating func string() throws -> String {
            let length = try count("a string length", limit: 1 << 30)
            guard let text = String(data: try bytes(length), encoding: .utf8) else { throw CheckpointError("\(path): a string at byte \(position) is not UTF-8") }
            return text
        }

        mutating func value(type: UInt32, key: String, depth: Int) throws -> GGUFValue {
            switch type {
            case 0: return .unsigned(UInt64(try load(UInt8.self)))
            case 1: return .signed(Int64(try load(Int8.self)))
            case 2: return .unsigned(UInt64(try load(UInt16.self)))
            case 3: return .signed(Int64(try load(Int16.self)))
            case 4: return .unsigned(UInt64(try load(UInt32.self)))
            case 5: return .signed(Int64(try load(Int32.self)))
            case 6: return .float(Double(Float(bitPattern: try load(UInt32.self))))
            case 7: return .bool(try load(UInt8.self) != 0)
            case 8: return .string(try string())
            case 9:
                guard depth == 0 else { throw CheckpointError("\(path): metadata '\(key)' nests arrays, which Tally does not read", kind: .unsupported) }
                let elementType = try unsigned32()
                let count = try count("the length of '\(key)'", limit: 1 << 26)
                var values: [GGUFValue] = []
                values.reserveCapacity(count)
                for _ in 0..<count { values.append(try value(type: elementType, key: key, depth: depth + 1)) }
                return .array(values)
            case 10: return .unsigned(try load(UInt64.self))
            case 11: return .signed(try load(Int64.self))
            case 12: return .float(Double(bitPattern: try load(UInt64.self)))
            default: throw CheckpointError("\(path): metadata '\(key)' has unknown value type \(type)")
            }
        }
    }
}
