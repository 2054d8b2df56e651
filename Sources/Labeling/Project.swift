import Foundation
import JSON
import Storage

/// A labeling project: the guidelines labelers see, the ranking size, the overlap, the rating
/// scale and the flags labelers may set.
public struct Project: Sendable, Equatable, Codable {
    public let id: Int
    public let name: String
    public let guidelines: String
    public let rankingSize: Int
    public let overlap: Int
    public let ratingMinimum: Int
    public let ratingMaximum: Int
    public let flags: [String]
    /// Minutes an assignment stays with its labeler before it returns to the queue.
    public let assignmentMinutes: Int
    /// How many prompts the project wants its labelers to write.
    public let promptsWanted: Int
    public let createdAt: String

    /// InstructGPT's flags (Ouyang et al. 2022, appendix B).
    public static let defaultFlags = [
        "fails_to_follow_instruction", "inappropriate_for_customer_assistant", "hallucination",
        "sexual_content", "violent_content", "encourages_violence_abuse_terrorism_or_self_harm",
        "denigrates_protected_class", "harmful_advice", "expresses_opinion", "expresses_moral_judgment",
    ]

    init(row: Row) throws {
        id = try row.int("id")
        name = try row.string("name")
        guidelines = try row.string("guidelines")
        rankingSize = try row.int("ranking_size")
        overlap = try row.int("overlap")
        ratingMinimum = try row.int("rating_minimum")
        ratingMaximum = try row.int("rating_maximum")
        guard case .array(let values)? = try? JSONParser.parse(try row.string("flags")) else {
            throw StorageError("project \(id) has flags that are not a JSON array")
        }
        flags = values.compactMap { if case .string(let flag) = $0 { return flag }; return nil }
        assignmentMinutes = try row.int("assignment_minutes")
        promptsWanted = try row.int("prompts_wanted")
        createdAt = try row.string("created_at")
    }
}

/// What a new project needs; missing settings take InstructGPT's defaults.
public struct NewProject: Sendable, Decodable {
    public var name: String
    public var guidelines: String?
    public var rankingSize: Int?
    public var overlap: Int?
    public var ratingMinimum: Int?
    public var ratingMaximum: Int?
    public var flags: [String]?
    public var assignmentMinutes: Int?
    public var promptsWanted: Int?

    public init(name: String) { self.name = name }
}

/// Why labeling data was refused, in words for the person who sent it, naming the field.
public struct LabelingError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable { case invalid, notFound, conflict }
    public let kind: Kind
    public let description: String
    public init(_ description: String, kind: Kind = .invalid) {
        self.kind = kind
        self.description = description
    }
}

public struct ProjectRepository: Sendable {
    private static let columns = "id, name, guidelines, ranking_size, overlap, rating_minimum, rating_maximum, flags, assignment_minutes, prompts_wanted, created_at"

    public init() {}

    public func create(_ project: NewProject, createdBy: Int?, in database: Database) throws -> Project {
        let name = project.name.trimmingCharacters(in: .whitespaces)
        guard (1...200).contains(name.count) else { throw LabelingError("field 'name' must have 1 to 200 characters") }
        let size = project.rankingSize ?? 4
        guard (2...9).contains(size) else { throw LabelingError("field 'rankingSize' must be from 2 to 9, not \(size)") }
        let overlap = project.overlap ?? 1
        guard (1...20).contains(overlap) else { throw LabelingError("field 'overlap' must be from 1 to 20, not \(overlap)") }
        let (minimum, maximum) = (project.ratingMinimum ?? 1, project.ratingMaximum ?? 7)
        guard minimum < maximum else { throw LabelingError("field 'ratingMinimum' must be below 'ratingMaximum'") }
        let flags = project.flags ?? Project.defaultFlags
        guard Set(flags).count == flags.count, flags.allSatisfy({ !$0.isEmpty && $0.count <= 100 }) else {
            throw LabelingError("field 'flags' must be distinct names of 1 to 100 characters")
        }
        let minutes = project.assignmentMinutes ?? 60
        guard (1...10080).contains(minutes) else { throw LabelingError("field 'assignmentMinutes' must be from 1 to 10080 (a week), not \(minutes)") }
        let promptsWanted = project.promptsWanted ?? 0
        guard (0...1_000_000).contains(promptsWanted) else { throw LabelingError("field 'promptsWanted' must be from 0 to 1000000, not \(promptsWanted)") }
        do {
            try database.execute("""
                INSERT INTO projects (name, guidelines, ranking_size, overlap, rating_minimum, rating_maximum, flags, assignment_minutes, prompts_wanted, created_by)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [name, project.guidelines ?? "", size, overlap, minimum, maximum, JSONWriter.string(.array(flags.map { .string($0) })),
                      minutes, promptsWanted, createdBy])
        } catch let error as DatabaseError where error.isUniqueViolation {
            throw LabelingError("a project named '\(name)' exists already", kind: .conflict)
        }
        return try find(id: Int(database.lastInsertRowID), in: database)!
    }

    public func find(id: Int, in database: Database) throws -> Project? {
        try database.queryOne("SELECT \(Self.columns) FROM projects WHERE id = ?", [id]).map(Project.init(row:))
    }

    public func all(in database: Database) throws -> [Project] {
        try database.query("SELECT \(Self.columns) FROM projects ORDER BY id").map(Project.init(row:))
    }
}


