import Foundation

/// Decodes `Decodable` types from JSON with Tally's own parser: several times faster than
/// Foundation's `JSONDecoder` on Linux, which dominated the time of every JSON request.
///
/// Errors are Swift's `DecodingError`s with the coding path of the field at fault, so callers
/// can name it; a syntax error is `dataCorrupted` with the line and column. Dates are ISO 8601
/// strings, `Data` is base64, as in the rest of Tally's API.
public struct JSONValueDecoder: Sendable {
    /// Whether an object member the type does not take is refused (`JSONUnknownMember`) rather
    /// than ignored: on for request bodies, where a misspelt setting must not pass as accepted;
    /// off for files of other tools (a `config.json` carries much Tally does not read).
    public var refusesUnknownMembers: Bool

    public init(refusesUnknownMembers: Bool = false) {
        self.refusesUnknownMembers = refusesUnknownMembers
    }

    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "The body is not valid JSON: \(error)"))
        }
        return try decode(type, from: value)
    }

    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try ValueDecoder(value: value, codingPath: [], refusesUnknownMembers: refusesUnknownMembers).decodeValue(type)
    }
}

/// An object member that the decoded type does not take, found by a decoder that refuses them.
/// Only types whose coding keys are a closed set (the synthesized `CodingKeys` enums) can tell;
/// a dictionary takes every member.
public struct JSONUnknownMember: Error, CustomStringConvertible, Sendable {
    /// The member's path, as in `entries[0].rnak`.
    public let path: String
    public var description: String { "unknown field '\(path)'" }
}

/// The key of an array element in a coding path.
struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "\(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private let iso8601 = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
private let iso8601WithoutFraction = Date.ISO8601FormatStyle()

private struct ValueDecoder: Decoder, SingleValueDecodingContainer {
    let value: JSONValue
    /// The path to the container holding this value, and this value's key in it. The full
    /// coding path is built only when asked for (errors, nested containers): building it for
    /// every array element was a third of the decoding time.
    let parentPath: [any CodingKey]
    let key: (any CodingKey)?
    let refusesUnknownMembers: Bool
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(value: JSONValue, codingPath: [any CodingKey], refusesUnknownMembers: Bool) {
        self.value = value
        self.parentPath = codingPath
        self.key = nil
        self.refusesUnknownMembers = refusesUnknownMembers
    }

    init(value: JSONValue, parentPath: [any CodingKey], key: any CodingKey, refusesUnknownMembers: Bool) {
        self.value = value
        self.parentPath = parentPath
        self.key = key
        self.refusesUnknownMembers = refusesUnknownMembers
    }

    var codingPath: [any CodingKey] { key.map { parentPath + [$0] } ?? parentPath }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw mismatch([String: Any].self) }
        if refusesUnknownMembers, let unknown = members.first(where: { Key(stringValue: $0.key) == nil }) {
            let names = (codingPath.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue } + ["." + unknown.key]).joined()
            throw JSONUnknownMember(path: String(names.dropFirst(names.hasPrefix(".") ? 1 : 0)))
        }
        return KeyedDecodingContainer(KeyedContainer<Key>(members: members, codingPath: codingPath, refusesUnknownMembers: refusesUnknownMembers))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw mismatch([Any].self) }
        return UnkeyedContainer(elements: elements, codingPath: codingPath, refusesUnknownMembers: refusesUnknownMembers)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func mismatch(_ type: Any.Type) -> DecodingError {
        DecodingError.typeMismatch(type, .init(codingPath: codingPath, debugDescription: "Expected \(type) but found \(value.kindDescription)."))
    }

    func decodeNil() -> Bool { value == .null }

    func decode(_ type: Bool.Type) throws -> Bool {
        guard case .bool(let bool) = value else { throw nullOrMismatch(type) }
        return bool
    }

    func decode(_ type: String.Type) throws -> String {
        guard case .string(let string) = value else { throw nullOrMismatch(type) }
        return string
    }

    func decode(_ type: Double.Type) throws -> Double {
        switch value {
        case .double(let double): return double
        case .integer(let integer): return Double(integer)
        default: throw nullOrMismatch(type)
        }
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    func decode<Integer: FixedWidthInteger & Decodable>(integer type: Integer.Type) throws -> Integer {
        switch value {
        case .integer(let integer):
            guard let exact = Integer(exactly: integer) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(integer) does not fit \(type)."))
            }
            return exact
        case .double(let double):
            guard let exact = Integer(exactly: double) else { throw mismatch(type) }
            return exact
        default:
            throw nullOrMismatch(type)
        }
    }

    func decode(_ type: Int.Type) throws -> Int { try decode(integer: type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decode(integer: type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decode(integer: type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decode(integer: type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decode(integer: type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decode(integer: type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decode(integer: type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decode(integer: type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decode(integer: type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decode(integer: type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeValue(type) }

    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        // Primitives directly, without the detour through `T(from:)` and an existential container.
        if type == Int.self { return try decode(Int.self) as! T }
        if type == String.self { return try decode(String.self) as! T }
        if type == Double.self { return try decode(Double.self) as! T }
        if type == Bool.self { return try decode(Bool.self) as! T }
        if type == Int64.self { return try decode(Int64.self) as! T }
        if type == Date.self {
            let text = try decode(String.self)
            guard let date = (try? iso8601.parse(text)) ?? (try? iso8601WithoutFraction.parse(text)) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "'\(text)' is not an ISO 8601 date."))
            }
            return date as! T
        }
        if type == Data.self {
            guard let data = Data(base64Encoded: try decode(String.self)) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "The value is not base64."))
            }
            return data as! T
        }
        if type == URL.self {
            let text = try decode(String.self)
            guard let url = URL(string: text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "'\(text)' is not a URL."))
            }
            return url as! T
        }
        return try T(from: self)
    }

    private func nullOrMismatch(_ type: Any.Type) -> DecodingError {
        if value == .null {
            return DecodingError.valueNotFound(type, .init(codingPath: codingPath, debugDescription: "Expected \(type) but found null."))
        }
        return mismatch(type)
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [(key: String, value: JSONValue)]
    let codingPath: [any CodingKey]
    let refusesUnknownMembers: Bool

    var allKeys: [Key] { members.compactMap { Key(stringValue: $0.key) } }

    func contains(_ key: Key) -> Bool { members.contains { $0.key == key.stringValue } }

    private func member(_ key: Key) throws -> JSONValue {
        let name = key.stringValue
        guard let member = members.first(where: { $0.key == name }) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "No value for '\(name)'."))
        }
        return member.value
    }

    private func decoder(for key: Key) throws -> ValueDecoder {
        ValueDecoder(value: try member(key), parentPath: codingPath, key: key, refusesUnknownMembers: refusesUnknownMembers)
    }

    func decodeNil(forKey key: Key) throws -> Bool { try member(key) == .null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decoder(for: key).decode(type) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decoder(for: key).decode(type) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decoder(for: key).decode(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decoder(for: key).decode(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decoder(for: key).decode(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decoder(for: key).decode(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decoder(for: key).decode(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decoder(for: key).decode(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decoder(for: key).decode(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decoder(for: key).decode(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decoder(for: key).decode(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decoder(for: key).decode(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decoder(for: key).decode(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decoder(for: key).decode(type) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decoder(for: key).decodeValue(type) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let member = members.first(where: { $0.key == key.stringValue }), member.value != .null else { return nil }
        return try ValueDecoder(value: member.value, parentPath: codingPath, key: key, refusesUnknownMembers: refusesUnknownMembers).decodeValue(type)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder(for: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder(for: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        ValueDecoder(value: .object(members), codingPath: codingPath, refusesUnknownMembers: refusesUnknownMembers)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder { try decoder(for: key) }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let elements: [JSONValue]
    let codingPath: [any CodingKey]
    let refusesUnknownMembers: Bool
    var currentIndex = 0

    init(elements: [JSONValue], codingPath: [any CodingKey], refusesUnknownMembers: Bool) {
        self.elements = elements
        self.codingPath = codingPath
        self.refusesUnknownMembers = refusesUnknownMembers
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    private mutating func next(_ type: Any.Type) throws -> ValueDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath + [IndexKey(currentIndex)], debugDescription: "The array has no more elements."))
        }
        defer { currentIndex += 1 }
        return ValueDecoder(value: elements[currentIndex], parentPath: codingPath, key: IndexKey(currentIndex), refusesUnknownMembers: refusesUnknownMembers)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, elements[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type).decode(type) }
    mutating func decode(_ type: String.Type) throws -> String { try next(type).decode(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(type).decode(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(type).decode(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next(type).decode(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(type).decode(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(type).decode(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(type).decode(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(type).decode(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next(type).decode(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(type).decode(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(type).decode(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(type).decode(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(type).decode(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next(type).decodeValue(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next([String: Any].self).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next([Any].self).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { try next(Any.self) }
}
