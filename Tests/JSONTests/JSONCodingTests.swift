import Foundation
import Testing
@testable import JSON

private struct Ranking: Codable, Equatable {
    enum Kind: String, Codable { case full, partial }
    struct Entry: Codable, Equatable {
        let candidateID: Int
        let rank: Int
        let rating: Double?
        let flags: [String]
    }
    let id: UInt64
    let kind: Kind
    let entries: [Entry]
    let comment: String?
    let submittedAt: Date
    let payload: Data
    let nested: [String: [Int]]
}

@Suite("JSON coding")
struct JSONCodingTests {
    private let sample = Ranking(
        id: 7, kind: .partial,
        entries: [.init(candidateID: 1, rank: 1, rating: 6.5, flags: ["hallucination"]), .init(candidateID: 2, rank: 1, rating: nil, flags: [])],
        comment: nil, submittedAt: Date(timeIntervalSince1970: 1_700_000_000.25), payload: Data([1, 2, 3]), nested: ["a": [1, 2]])

    @Test func roundTripsThroughOurEncoderAndDecoder() throws {
        let bytes = try JSONValueEncoder().encode(sample)
        #expect(try JSONValueDecoder().decode(Ranking.self, from: bytes) == sample)
    }

    @Test func agreesWithFoundationBothWays() throws {
        let foundationEncoder = JSONEncoder()
        foundationEncoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        foundationEncoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let theirs = try foundationEncoder.encode(sample)
        #expect(try JSONValueDecoder().decode(Ranking.self, from: Array(theirs)) == sample)
        let ours = try JSONValueEncoder().encode(sample)
        #expect(String(decoding: ours, as: UTF8.self) == String(decoding: theirs, as: UTF8.self))
    }

    @Test func errorsCarryTheCodingPath() {
        let bad = #"{"id": 1, "kind": "full", "entries": [{"candidateID": 1, "rank": "first", "flags": []}], "submittedAt": "2024-01-01T00:00:00Z", "payload": "", "nested": {}}"#
        #expect {
            try JSONValueDecoder().decode(Ranking.self, from: Array(bad.utf8))
        } throws: { error in
            guard case DecodingError.typeMismatch(_, let context) = error else { return false }
            return context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue } == ["entries", "0", "rank"]
        }
        let missing = #"{"id": 1}"#
        #expect {
            try JSONValueDecoder().decode(Ranking.self, from: Array(missing.utf8))
        } throws: { error in
            if case DecodingError.keyNotFound(let key, _) = error { return key.stringValue == "kind" }
            return false
        }
    }

    @Test func integersMustFitTheirType() {
        struct Small: Decodable { let value: UInt8 }
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(Small.self, from: Array(#"{"value": 300}"#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(Small.self, from: Array(#"{"value": -1}"#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(Small.self, from: Array(#"{"value": 1.5}"#.utf8)) }
    }

    @Test func nonFiniteNumbersCannotBeEncoded() {
        #expect(throws: EncodingError.self) { try JSONValueEncoder().encode([Double.nan]) }
    }

    @Test func stringsAreEscaped() throws {
        let text = String(decoding: try JSONValueEncoder().encode(["a\"b\\c\n\u{1}</script>"]), as: UTF8.self)
        #expect(text == #"["a\"b\\c\n\u0001</script>"]"#)
    }
}
