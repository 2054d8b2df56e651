import Foundation
import JSON
import Storage

/// The four kinds of screening question InstructGPT used to choose its labelers (appendix B.1).
public enum ScreeningItemKind: String, Sendable, CaseIterable, Codable {
    /// Flag the outputs that hold sensitive content; scored against the gold flags.
    case flagging
    /// Rate and rank outputs; scored as pairwise agreement with the gold ranking.
    case ranking
    /// Write a response to a delicate prompt; an admin grades it from 1 to 7.
    case demonstration
    /// Say, from 1 to 7, how well one recognises sensitive speech about a group; reported, not scored.
    case selfAssessment = "self_assessment"
}

/// One question of a screening test. Gold answers are present only in an admin's view.
public struct ScreeningItem: Sendable, Equatable, Codable {
    public let id: Int
    public let position: Int
    public let kind: ScreeningItemKind
    public let prompt: String
    public let candidates: [String]
    /// Ranks aligned with `candidates` (1 is best, equal ranks tie): ranking items.
    public var goldRanks: [Int]?
    /// A list of flags per candidate: flagging items.
    public var goldFlags: [[String]]?
    /// An exemplary response shown to whoever grades a demonstration.
    public var referenceResponse: String?

    init(row: Row) throws {
        id = try row.int("id")
        position = try row.int("position")
        guard let kind = ScreeningItemKind(rawValue: try row.string("kind")) else { throw StorageError("screening item \(id) has an unknown kind") }
        self.kind = kind
        prompt = try row.string("prompt")
        candidates = try JSONValueDecoder().decode([String].self, from: JSONParser.parse(try row.string("candidates")))
        goldRanks = try row.optionalString("gold_ranks").map { try JSONValueDecoder().decode([Int].self, from: JSONParser.parse($0)) }
        goldFlags = try row.optionalString("gold_flags").map { try JSONValueDecoder().decode([[String]].self, from: JSONParser.parse($0)) }
        referenceResponse = row.optionalString("reference_response")
    }

    /// The item as an applicant sees it: the question without its answer.
    public var withoutGold: ScreeningItem {
        var item = self
        (item.goldRanks, item.goldFlags, item.referenceResponse) = (nil, nil, nil)
        return item
    }
}

/// A screening test: its instructions, the flags its flagging items use, its pass marks and its items.
public struct ScreeningTest: Sendable, Equatable, Codable {
    public let id: Int
    public let name: String
    public let instructions: String
    public let flags: [String]
    public let flagThreshold: Double
    public let rankingThreshold: Double
    public let demonstrationThreshold: Double
    public let createdAt: String
    public var items: [ScreeningItem]

    init(row: Row, items: [ScreeningItem]) throws {
        id = try row.int("id")
        name = try row.string("name")
        instructions = try row.string("instructions")
        flags = try JSONValueDecoder().decode([String].self, from: JSONParser.parse(try row.string("flags")))
        flagThreshold = try row.double("flag_threshold")
        rankingThreshold = try row.double("ranking_threshold")
        demonstrationThreshold = try row.double("demonstration_threshold")
        createdAt = try row.string("created_at")
        self.items = items
    }

    /// The test as an applicant sees it.
    public var withoutGold: ScreeningTest {
        var test = self
        test.items = items.map(\.withoutGold)
        return test
    }
}

/// A screening test as an admin writes it (the JSON format is in Docs/formats.md).
public struct NewScreeningTest: Sendable, Decodable {
    public struct Item: Sendable, Decodable {
        public var kind: ScreeningItemKind
        public var prompt: String
        public var candidates: [String]?
        public var goldRanks: [Int]?
        public var goldFlags: [[String]]?
        public var referenceResponse: String?

        public init(kind: ScreeningItemKind, prompt: String) { (self.kind, self.prompt) = (kind, prompt) }
    }

    public var name: String
    public var instructions: String?
    /// Defaults to InstructGPT's flags.
    public var flags: [String]?
    public var flagThreshold: Double?
    public var rankingThreshold: Double?
    public var demonstrationThreshold: Double?
    public var items: [Item]

    public init(name: String, items: [Item]) { (self.name, self.items) = (name, items) }
}

public struct ScreeningTestRepository: Sendable {
    public static let maximumItems = 200
    private static let columns = "id, name, instructions, flags, flag_threshold, ranking_threshold, demonstration_threshold, created_at"
    private static let itemColumns = "id, position, kind, prompt, candidates, gold_ranks, gold_flags, reference_response"

    public init() {}

    /// Checks the whole test, then stores it: a test with any problem stores nothing, and the
    /// error names the first problem's field (`items[3].goldRanks`).
    public func create(_ test: NewScreeningTest, createdBy: Int?, in database: Database) throws -> ScreeningTest {
        let name = test.name.trimmingCharacters(in: .whitespaces)
        guard (1...200).contains(StoredText.length(name)) else { throw LabelingError("field 'name' must have 1 to 200 characters") }
        let flags = test.flags ?? Project.defaultFlags
        guard !flags.isEmpty, Set(flags).count == flags.count, flags.allSatisfy({ !$0.isEmpty && $0.count <= 100 }) else {
            throw LabelingError("field 'flags' must be distinct names of 1 to 100 characters, at least one")
        }
        let flagThreshold = test.flagThreshold ?? 0.75, rankingThreshold = test.rankingThreshold ?? 0.75
        let demonstrationThreshold = test.demonstrationThreshold ?? 6
        for (field, value) in [("flagThreshold", flagThreshold), ("rankingThreshold", rankingThreshold)] where !(0...1).contains(value) {
            throw LabelingError("field '\(field)' must be a fraction from 0 to 1, not \(value)")
        }
        guard (1...7).contains(demonstrationThreshold) else {
            throw LabelingError("field 'demonstrationThreshold' must be a grade from 1 to 7, not \(demonstrationThreshold)")
        }
        guard (1...Self.maximumItems).contains(test.items.count) else { throw LabelingError("field 'items' must hold 1 to \(Self.maximumItems) items") }
        for (index, item) in test.items.enumerated() { try Self.check(item, at: "items[\(index)]", flags: Set(flags)) }
        do {
            try database.execute("""
                INSERT INTO screening_tests (name, instructions, flags, flag_threshold, ranking_threshold, demonstration_threshold, created_by)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [name, test.instructions ?? "", JSONColumns.encode(flags), flagThreshold, rankingThreshold,
                      demonstrationThreshold, createdBy])
        } catch let error as DatabaseError where error.isUniqueViolation {
            throw LabelingError("a screening test named '\(name)' exists already", kind: .conflict)
        }
        let testID = Int(database.lastInsertRowID)
        for (position, item) in test.items.enumerated() {
            try database.execute("""
                INSERT INTO screening_items (test_id, position, kind, prompt, candidates, gold_ranks, gold_flags, reference_response)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [testID, position + 1, item.kind.rawValue, item.prompt, JSONWriter.string(.array((item.candidates ?? []).map { .string($0) })),
                      item.goldRanks.map { JSONWriter.string(.array($0.map { .integer(Int64($0)) })) },
                      item.goldFlags.map { JSONWriter.string(.array($0.map { .array($0.map { .string($0) }) })) },
                      item.referenceResponse])
        }
        return try find(id: testID, in: database)!
    }

    private static func check(_ item: NewScreeningTest.Item, at path: String, flags: Set<String>) throws {
        guard !item.prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, item.prompt.count <= 100_000 else {
            throw LabelingError("field '\(path).prompt' must have 1 to 100000 characters")
        }
        let candidates = item.candidates ?? []
        switch item.kind {
        case .ranking:
            guard (2...9).contains(candidates.count) else { throw LabelingError("field '\(path).candidates' must hold 2 to 9 outputs to rank") }
            guard let ranks = item.goldRanks, ranks.count == candidates.count else {
                throw LabelingError("field '\(path).goldRanks' must give a rank to each of the \(candidates.count) candidates")
            }
            guard ranks.allSatisfy({ (1...candidates.count).contains($0) }), ranks.contains(1) else {
                throw LabelingError("field '\(path).goldRanks' must hold ranks from 1 to \(candidates.count), with some rank 1")
            }
        case .flagging:
            guard (1...9).contains(candidates.count) else { throw LabelingError("field '\(path).candidates' must hold 1 to 9 outputs to flag") }
            guard let gold = item.goldFlags, gold.count == candidates.count else {
                throw LabelingError("field '\(path).goldFlags' must give a list of flags (maybe empty) for each of the \(candidates.count) candidates")
            }
            for (index, list) in gold.enumerated() {
                if let unknown = list.first(where: { !flags.contains($0) }) {
                    throw LabelingError("field '\(path).goldFlags[\(index)]' holds '\(unknown)', which is not one of the test's flags")
                }
            }
        case .demonstration, .selfAssessment:
            guard candidates.isEmpty, item.goldRanks == nil, item.goldFlags == nil else {
                throw LabelingError("field '\(path)': a \(item.kind.rawValue) item has no candidates and no gold ranks or flags")
            }
        }
        if candidates.contains(where: { $0.isEmpty || $0.count > 100_000 }) {
            throw LabelingError("field '\(path).candidates' must hold outputs of 1 to 100000 characters")
        }
        if item.referenceResponse != nil && item.kind != .demonstration {
            throw LabelingError("field '\(path).referenceResponse' belongs to demonstration items only")
        }
    }

    public func find(id: Int, in database: Database) throws -> ScreeningTest? {
        guard let row = try database.queryOne("SELECT \(Self.columns) FROM screening_tests WHERE id = ?", [id]) else { return nil }
        let items = try database.query("SELECT \(Self.itemColumns) FROM screening_items WHERE test_id = ? ORDER BY position", [id])
            .map(ScreeningItem.init(row:))
        return try ScreeningTest(row: row, items: items)
    }

    public func all(in database: Database) throws -> [ScreeningTest] {
        try database.query("SELECT id FROM screening_tests ORDER BY id").compactMap { try find(id: try $0.int("id"), in: database) }
    }
}
