/// A JSON syntax error, located by line and column (both from 1) in the input.
public struct JSONSyntaxError: Error, CustomStringConvertible, Sendable, Equatable {
    public let line: Int
    public let column: Int
    public let reason: String

    public var description: String { "line \(line), column \(column): \(reason)" }
}

/// Parses JSON text (RFC 8259) from UTF-8 bytes into a `JSONValue`.
///
/// Written for Tally's request bodies and JSONL imports: one pass over the bytes, strings built
/// without intermediate copies when they hold no escapes, a nesting limit so hostile input
/// cannot exhaust the stack, and duplicate object keys refused rather than silently resolved.
public struct JSONParser {
    /// Deepest nesting of arrays and objects accepted.
    public static let maxDepth = 512

    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer throws(JSONSyntaxError) in
            var parser = Cursor(bytes: buffer)
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            guard parser.index == buffer.count else { throw parser.error("unexpected text after the JSON value") }
            return value
        }
    }

    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func error(_ reason: String, at position: Int? = nil) -> JSONSyntaxError {
            let end = min(position ?? index, bytes.count)
            var line = 1, lineStart = 0
            for offset in 0..<end where bytes[offset] == UInt8(ascii: "\n") {
                line += 1
                lineStart = offset + 1
            }
            return JSONSyntaxError(line: line, column: end - lineStart + 1, reason: reason)
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            guard index < bytes.count else { throw error("the JSON text ends where a value should be") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
            case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
            case UInt8(ascii: "n"): try expectLiteral("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            default: throw error("expected a value, found '\(Unicode.Scalar(bytes[index]))'")
            }
        }

        mutating func expectLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count,
                  memcmp(bytes.baseAddress! + index, literal.utf8Start, count) == 0 else {
                throw error("expected '\(literal)'")
            }
            index += count
        }

        mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            guard depth <= JSONParser.maxDepth else { throw error("nesting deeper than \(JSONParser.maxDepth) levels") }
            index += 1
            var members: [(key: String, value: JSONValue)] = []
            // Duplicate keys are found by scanning while objects are small, by a set past that,
            // so a vocabulary file of 50,000 members parses in linear time.
            var seenKeys: Set<String>?
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a member name in quotes") }
                let keyStart = index
                let key = try parseString()
                let duplicate: Bool
                if members.count < 16 {
                    duplicate = members.contains { $0.key == key }
                } else {
                    if seenKeys == nil { seenKeys = Set(members.map(\.key)) }
                    duplicate = !seenKeys!.insert(key).inserted
                }
                if duplicate {
                    throw error("the member name \"\(key)\" appears twice in one object", at: keyStart)
                }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after a member name") }
                index += 1
                skipWhitespace()
                members.append((key, try parseValue(depth: depth)))
                skipWhitespace()
                guard index < bytes.count else { throw error("the JSON text ends inside an object") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                throw error("expected ',' or '}' in an object")
            }
        }

        mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            guard depth <= JSONParser.maxDepth else { throw error("nesting deeper than \(JSONParser.maxDepth) levels") }
            index += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try parseValue(depth: depth))
                skipWhitespace()
                guard index < bytes.count else { throw error("the JSON text ends inside an array") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
                throw error("expected ',' or ']' in an array")
            }
        }

        mutating func parseString() throws(JSONSyntaxError) -> String {
            index += 1
            let start = index
            // Fast path: no escapes, so the bytes between the quotes are the string.
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    guard let text = String(validating: slice, as: UTF8.self) else { throw error("a string is not valid UTF-8", at: start) }
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw error("a control character must be escaped inside a string") }
                index += 1
            }
            var decoded = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    guard let text = String(validating: decoded, as: UTF8.self) else { throw error("a string is not valid UTF-8", at: start) }
                    return text
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { break }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): decoded.append(0x22)
                    case UInt8(ascii: "\\"): decoded.append(0x5C)
                    case UInt8(ascii: "/"): decoded.append(0x2F)
                    case UInt8(ascii: "b"): decoded.append(0x08)
                    case UInt8(ascii: "f"): decoded.append(0x0C)
                    case UInt8(ascii: "n"): decoded.append(0x0A)
                    case UInt8(ascii: "r"): decoded.append(0x0D)
                    case UInt8(ascii: "t"): decoded.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try parseHexQuad()
                        if (0xD800...0xDBFF).contains(scalar) {
                            // A high surrogate must be followed by an escaped low surrogate.
                            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                                throw error("a UTF-16 high surrogate is not followed by a low surrogate")
                            }
                            index += 2
                            let low = try parseHexQuad()
                            guard (0xDC00...0xDFFF).contains(low) else { throw error("a UTF-16 high surrogate is not followed by a low surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw error("a UTF-16 low surrogate stands alone")
                        }
                        decoded.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                    default:
                        throw error("'\\\(Unicode.Scalar(escape))' is not a JSON escape")
                    }
                default:
                    if byte < 0x20 { throw error("a control character must be escaped inside a string") }
                    decoded.append(byte)
                    index += 1
                }
            }
            throw error("the JSON text ends inside a string")
        }

        mutating func parseHexQuad() throws(JSONSyntaxError) -> UInt32 {
            guard index + 4 <= bytes.count else { throw error("'\\u' needs four hexadecimal digits") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw error("'\\u' needs four hexadecimal digits")
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }

        /// number = [ "-" ] int [ frac ] [ exp ]; int = "0" / ( digit1-9 *DIGIT ).
        mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
            let start = index
            var negative = false
            if bytes[index] == UInt8(ascii: "-") { negative = true; index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("a number needs digits") }
            if bytes[index] == UInt8(ascii: "0"), index + 1 < bytes.count, isDigit(bytes[index + 1]) {
                throw error("a number must not start with a leading zero")
            }
            var magnitude: UInt64 = 0
            var overflow = false
            while index < bytes.count, isDigit(bytes[index]) {
                let (times10, overflowed1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, overflowed2) = times10.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
                overflow = overflow || overflowed1 || overflowed2
                magnitude = sum
                index += 1
            }
            var isInteger = true
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                isInteger = false
                index += 1
                guard index < bytes.count, isDigit(bytes[index]) else { throw error("a decimal point must be followed by digits") }
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                isInteger = false
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard index < bytes.count, isDigit(bytes[index]) else { throw error("an exponent needs digits") }
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
            if isInteger && !overflow {
                if negative, magnitude <= UInt64(Int64.max) + 1 {
                    return .integer(magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude))
                }
                if !negative, magnitude <= UInt64(Int64.max) { return .integer(Int64(magnitude)) }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard let value = Double(text), value.isFinite else { throw error("the number \(text) is out of range", at: start) }
            return .double(value)
        }

        private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    }
}

#if canImport(Glibc)
import Glibc
#endif
