import Foundation
import JSON
import Storage

/// A researcher's answer for one candidate of a gold prompt.
public struct GoldEntry: Sendable, Equatable, Codable {
    public let candidateId: Int
    /// 1 is best; equal ranks tie.
    public let rank: Int
    public let flags: [String]

    public init(candidateId: Int, rank: Int, flags: [String] = []) { (self.candidateId, self.rank, self.flags) = (candidateId, rank, flags) }

    enum CodingKeys: String, CodingKey { case candidateId, rank, flags }
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        candidateId = try container.decode(Int.self, forKey: .candidateId)
        rank = try container.decode(Int.self, forKey: .rank)
        flags = try container.decodeIfPresent([String].self, forKey: .flags) ?? []
    }
}

/// Gold prompts: project prompts with a researcher's ranking. The queue mixes them into a
/// labeler's ranking tasks at the project's gold rate, looking like any other task, and each
/// labeler's rankings of them are scored against the gold (their gold accuracy).
public struct GoldAnswerRepository: Sendable {
    public init() {}

    /// Makes the prompt a gold prompt with these answers (replacing earlier ones). Every candidate
    /// must be ranked once, ranks run from 1 to at most the number of candidates, and flags are
    /// the project's.
    public func set(promptID: Int, entries: [GoldEntry], createdBy: Int, in database: Database) throws {
        guard let prompt = try PromptRepository().find(id: promptID, in: database) else {
            throw LabelingError("there is no prompt \(promptID)", kind: .notFound)
        }
        guard let project = try ProjectRepository().find(id: prompt.projectID, in: database) else {
            throw LabelingError("the prompt's project is gone", kind: .notFound)
        }
        let candidateIDs = prompt.candidates.map(\.id)
        guard candidateIDs.count >= 2 else { throw LabelingError("prompt \(promptID) has fewer than two candidates to rank") }
        guard Set(entries.map(\.candidateId)) == Set(candidateIDs), entries.count == candidateIDs.count else {
            throw LabelingError("field 'entries' must rank each of the candidates \(candidateIDs.sorted()) exactly once")
        }
        for (index, entry) in entries.enumerated() {
            guard (1...candidateIDs.count).contains(entry.rank) else {
                throw LabelingError("field 'entries[\(index)].rank' must be from 1 to \(candidateIDs.count), not \(entry.rank)")
            }
            if let unknown = entry.flags.first(where: { !project.flags.contains($0) }) {
                throw LabelingError("field 'entries[\(index)].flags' holds '\(unknown)', which is not one of the project's flags")
            }
        }
        guard entries.contains(where: { $0.rank == 1 }) else { throw LabelingError("field 'entries' must give some candidate rank 1") }
        try database.execute("DELETE FROM gold_answers WHERE prompt_id = ?", [promptID])
        for entry in entries {
            try database.execute("INSERT INTO gold_answers (prompt_id, candidate_id, rank, flags, created_by) VALUES (?, ?, ?, ?, ?)",
                                 [promptID, entry.candidateId, entry.rank, JSONColumns.encode(entry.flags), createdBy])
        }
    }

    /// Makes the prompt an ordinary prompt again.
    public func remove(promptID: Int, in database: Database) throws {
        try database.execute("DELETE FROM gold_answers WHERE prompt_id = ?", [promptID])
        guard database.changes > 0 else { throw LabelingError("prompt \(promptID) is not a gold prompt", kind: .notFound) }
    }

    public func entries(promptID: Int, in database: Database) throws -> [GoldEntry] {
        try database.query("SELECT candidate_id, rank, flags FROM gold_answers WHERE prompt_id = ? ORDER BY candidate_id", [promptID]).map { row in
            GoldEntry(candidateId: try row.int("candidate_id"), rank: try row.int("rank"), flags: try JSONColumns.strings(row, "flags"))
        }
    }

    public func isGold(promptID: Int, in database: Database) throws -> Bool {
        try database.queryScalarInt("SELECT EXISTS (SELECT 1 FROM gold_answers WHERE prompt_id = ?)", [promptID]) == 1
    }

    /// The gold ranks of every gold prompt of the project: prompt id to candidate id to rank.
    public func ranks(projectID: Int, in database: Database) throws -> [Int: [Int: Int]] {
        try database.query("""
            SELECT g.prompt_id, g.candidate_id, g.rank FROM gold_answers g JOIN prompts p ON p.id = g.prompt_id WHERE p.project_id = ?
            """, [projectID]).reduce(into: [:]) { ranks, row in ranks[try row.int("prompt_id"), default: [:]][try row.int("candidate_id")] = try row.int("rank") }
    }

    /// The ids of the project's gold prompts, in order.
    public func promptIDs(projectID: Int, in database: Database) throws -> [Int] {
        try database.query("SELECT DISTINCT g.prompt_id FROM gold_answers g JOIN prompts p ON p.id = g.prompt_id WHERE p.project_id = ? ORDER BY g.prompt_id",
                           [projectID]).map { try $0.int("prompt_id") }
    }
}
