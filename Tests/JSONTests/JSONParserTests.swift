import Foundation
import TallyTestSupport
import Testing
@testable import JSON

@Suite("JSON parser")
struct JSONParserTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONParser.parse(#" {"a": [1, -2, 3.5, -0.25e2, 1E3, true, false, null], "b": {"c": "d"}, "e": ""} "#)
        #expect(value == .object([
            ("a", .array([.integer(1), .integer(-2), .double(3.5), .double(-25), .double(1000), .bool(true), .bool(false), .null])),
            ("b", .object([("c", .string("d"))])),
            ("e", .string("")),
        ]))
        #expect(value["b"]?["c"] == .string("d"))
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        let value = try JSONParser.parse(#""quote \" backslash \\ slash \/ \b\f\n\r\t \u00e9 \ud83d\ude80 raw é🚀""#)
        #expect(value == .string("quote \" backslash \\ slash / \u{8}\u{c}\n\r\t é 🚀 raw é🚀"))
    }

    @Test func integersStayExactAtTheEdges() throws {
        #expect(try JSONParser.parse("9223372036854775807") == .integer(Int64.max))
        #expect(try JSONParser.parse("-9223372036854775808") == .integer(Int64.min))
        #expect(try JSONParser.parse("9223372036854775808") == .double(9223372036854775808))
        #expect(try JSONParser.parse("-0") == .integer(0))
    }

    @Test(arguments: [
        ("", "ends where a value should be"),
        ("{", "member name"),
        ("[1,]", "expected a value"),
        ("[1 2]", "expected ',' or ']'"),
        ("{\"a\" 1}", "expected ':'"),
        ("{\"a\":1,}", "member name"),
        ("{\"a\":1,\"a\":2}", "appears twice"),
        ("01", "leading zero"),
        ("1.", "decimal point"),
        ("1e", "exponent"),
        ("-", "needs digits"),
        ("+1", "expected a value"),
        ("NaN", "expected a value"),
        ("tru", "expected 'true'"),
        ("\"abc", "ends inside a string"),
        ("\"a\u{01}b\"", "control character"),
        ("\"\\x\"", "not a JSON escape"),
        ("\"\\u12\"", "four hexadecimal digits"),
        ("\"\\ud800\"", "high surrogate"),
        ("\"\\udc00\"", "low surrogate stands alone"),
        ("1e999", "out of range"),
        ("[1] [2]", "after the JSON value"),
    ])
    func refusesInvalidJSON(text: String, reason: String) {
        #expect {
            try JSONParser.parse(text)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test func errorsGiveLineAndColumn() {
        #expect {
            try JSONParser.parse("{\n  \"a\": 1,\n  \"b\": x\n}")
        } throws: { error in
            (error as? JSONSyntaxError).map { $0.line == 3 && $0.column == 8 } ?? false
        }
    }

    @Test func invalidUTF8IsRefused() {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse([0x22, 0xff, 0xfe, 0x22]) }
    }

    @Test func deepNestingIsRefusedNotACrash() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect { try JSONParser.parse(deep) } throws: { "\($0)".contains("nesting deeper") }
        let fine = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(throws: Never.self) { try JSONParser.parse(fine) }
    }

    /// Random documents written by our writer must parse back identically with our parser and
    /// mean the same to Foundation's JSONSerialization, an independent implementation.
    @Test func randomDocumentsRoundTripAndAgreeWithFoundation() throws {
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<300 {
            let value = randomValue(depth: 0, using: &generator)
            let text = JSONWriter.string(value)
            let reparsed = try JSONParser.parse(text)
            #expect(JSONWriter.string(reparsed) == text)
            let foundation = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            let foundationText = String(decoding: try JSONSerialization.data(withJSONObject: foundation, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]), as: UTF8.self)
            #expect(JSONWriter.string(try JSONParser.parse(foundationText)) == text, "\(text)")
        }
    }

    private func randomValue(depth: Int, using generator: inout SeededGenerator) -> JSONValue {
        switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &generator) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2: return .integer(Int64.random(in: -1_000_000_000_000...1_000_000_000_000, using: &generator))
        case 3: return .double(Double(Int.random(in: -100_000...100_000, using: &generator)) / 64 + 0.5)
        case 4:
            let alphabet = Array("abc XYZ é🚀\"\\/\n\t\u{1}<>&")
            return .string(String((0..<Int.random(in: 0..<12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }))
        case 5: return .array((0..<Int.random(in: 0..<5, using: &generator)).map { _ in randomValue(depth: depth + 1, using: &generator) })
        default:
            var members: [(key: String, value: JSONValue)] = []
            for index in 0..<Int.random(in: 0..<5, using: &generator) {
                members.append(("k\(index)\(Int.random(in: 0..<9, using: &generator))", randomValue(depth: depth + 1, using: &generator)))
            }
            var seen = Set<String>()
            return .object(members.filter { seen.insert($0.key).inserted })
        }
    }
}

@Suite("JSON parser on large objects")
struct JSONLargeObjectTests {
    @Test func duplicateKeysAreFoundInLargeObjectsToo() {
        let members = (0..<100).map { "\"k\($0)\": \($0)" }.joined(separator: ", ")
        #expect(throws: Never.self) { try JSONParser.parse("{\(members)}") }
        #expect { try JSONParser.parse("{\(members), \"k50\": 1}") } throws: { "\($0)".contains("\"k50\" appears twice") }
    }
}
