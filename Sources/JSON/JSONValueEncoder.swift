import Foundation

/// Encodes `Encodable` values as compact JSON with sorted keys (stable for tests and diffs),
/// dates as ISO 8601 strings, `Data` as base64. Tally's own, for the same reason as the decoder.
public struct JSONValueEncoder: Sendable {
    public init() {}

    public func encode(_ value: some Encodable) throws -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        JSONWriter.write(try encodeToValue(value), into: &output)
        return output
    }

    public func encodeToValue(_ value: some Encodable) throws -> JSONValue {
        let root = EncodingNode()
        try ValueEncoder(node: root, codingPath: []).encodeValue(value)
        return root.resolved()
    }
}

/// Serializes a `JSONValue`; object members are written sorted by key.
public enum JSONWriter {
    public static func write(_ value: JSONValue, into output: inout [UInt8]) {
        switch value {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let bool): output.append(contentsOf: (bool ? "true" : "false").utf8)
        case .integer(let integer): output.append(contentsOf: String(integer).utf8)
        case .double(let double):
            // Integral doubles print without ".0", as JavaScript does.
            if double == double.rounded(), abs(double) < 1e15 {
                output.append(contentsOf: String(Int64(double)).utf8)
            } else {
                output.append(contentsOf: "\(double)".utf8)
            }
        case .string(let string): writeString(string, into: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                write(element, into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (index, member) in members.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                writeString(member.key, into: &output)
                output.append(UInt8(ascii: ":"))
                write(member.value, into: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    public static func string(_ value: JSONValue) -> String {
        var output: [UInt8] = []
        write(value, into: &output)
        return String(decoding: output, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func writeString(_ string: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): output.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                output.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                           hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}

/// A value under construction: containers are filled after they are handed out, so they are
/// reference types until the whole tree is resolved into a `JSONValue`.
private final class EncodingNode {
    enum Content {
        case unset
        case value(JSONValue)
        case object([(String, EncodingNode)])
        case array([EncodingNode])
    }

    var content = Content.unset

    func resolved() -> JSONValue {
        switch content {
        case .unset: return .object([])
        case .value(let value): return value
        case .object(let members):
            // A later encode of the same key replaces the earlier one, as JSONEncoder does.
            var seen = Set<String>()
            var resolved: [(key: String, value: JSONValue)] = []
            for (key, node) in members.reversed() where seen.insert(key).inserted { resolved.append((key, node.resolved())) }
            return .object(resolved.reversed())
        case .array(let elements): return .array(elements.map { $0.resolved() })
        }
    }

    func makeObject() {
        if case .object = content { return }
        content = .object([])
    }

    func makeArray() {
        if case .array = content { return }
        content = .array([])
    }

    func addMember(_ key: String) -> EncodingNode {
        let child = EncodingNode()
        if case .object(var members) = content {
            content = .unset
            members.append((key, child))
            content = .object(members)
        }
        return child
    }

    func addElement() -> EncodingNode {
        let child = EncodingNode()
        if case .array(var elements) = content {
            content = .unset
            elements.append(child)
            content = .array(elements)
        }
        return child
    }

    var elementCount: Int {
        if case .array(let elements) = content { return elements.count }
        return 0
    }
}

private let iso8601 = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

private struct ValueEncoder: Encoder, SingleValueEncodingContainer {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.makeObject()
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.makeArray()
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    func encodeNil() { node.content = .value(.null) }
    func encode(_ value: Bool) { node.content = .value(.bool(value)) }
    func encode(_ value: String) { node.content = .value(.string(value)) }
    func encode(_ value: Double) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "JSON has no \(value)."))
        }
        node.content = .value(.double(value))
    }
    func encode(_ value: Float) throws { try encode(Double(value)) }
    func encode(_ value: Int) { node.content = .value(.integer(Int64(value))) }
    func encode(_ value: Int8) { node.content = .value(.integer(Int64(value))) }
    func encode(_ value: Int16) { node.content = .value(.integer(Int64(value))) }
    func encode(_ value: Int32) { node.content = .value(.integer(Int64(value))) }
    func encode(_ value: Int64) { node.content = .value(.integer(value)) }
    func encode(_ value: UInt) throws { try encodeUnsigned(UInt64(value)) }
    func encode(_ value: UInt8) { node.content = .value(.integer(Int64(value))) }
    func encode(_ value: UInt16) { node.content = .value(.integer(Int64(value))) }
    func encode(_ value: UInt32) { node.content = .value(.integer(Int64(value))) }
    func encode(_ value: UInt64) throws { try encodeUnsigned(value) }

    private func encodeUnsigned(_ value: UInt64) throws {
        guard let integer = Int64(exactly: value) else {
            throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "\(value) is larger than JSON integers Tally writes."))
        }
        node.content = .value(.integer(integer))
    }

    func encode<T: Encodable>(_ value: T) throws { try encodeValue(value) }

    func encodeValue<T: Encodable>(_ value: T) throws {
        switch value {
        case let date as Date: node.content = .value(.string(date.formatted(iso8601)))
        case let data as Data: node.content = .value(.string(data.base64EncodedString()))
        case let url as URL: node.content = .value(.string(url.absoluteString))
        case let json as JSONValue: node.content = .value(json)
        default: try value.encode(to: self)
        }
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodingNode
    let codingPath: [any CodingKey]

    private func child(_ key: Key) -> ValueEncoder {
        ValueEncoder(node: node.addMember(key.stringValue), codingPath: codingPath + [key])
    }

    mutating func encodeNil(forKey key: Key) { child(key).encodeNil() }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try child(key).encodeValue(value) }

    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        // Absent optionals are left out, as JSONEncoder does.
        guard let value else { return }
        try child(key).encodeValue(value)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        child(key).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        child(key).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { ValueEncoder(node: node.addMember("super"), codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { child(key) }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    var count: Int { node.elementCount }

    private func next() -> ValueEncoder {
        ValueEncoder(node: node.addElement(), codingPath: codingPath + [IndexKey(count)])
    }

    mutating func encodeNil() { next().encodeNil() }
    mutating func encode<T: Encodable>(_ value: T) throws { try next().encodeValue(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        next().container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { next().unkeyedContainer() }
    mutating func superEncoder() -> any Encoder { next() }
}
