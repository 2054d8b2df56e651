import Foundation
import JSON
import Storage

/// A model version acting as a labeler (RLAIF), measured as a labeler is: its rankings' pairwise
/// agreement with people's rankings in force of the same prompts, with a bootstrap interval over
/// prompts, overall and against the held-out labelers alone.
public struct AILabeler: Sendable, Encodable {
    public let modelVersionId: Int
    public let name: String
    public let method: String
    public let rankings: Int
    /// Prompts of those that people ranked too.
    public let promptsRankedByPeople: Int
    public let agreementWithPeople: QualityReport.Rate?
    public let agreementWithHeldOutLabelers: QualityReport.Rate?
}

/// AI labels, kept apart from people's: their own tables (`ai_rankings`), so that no human
/// export, queue, count, agreement or training snapshot can read them by mistake.
public struct AIRankingRepository: Sendable {
    public init() {}

    /// Stores (or replaces) model `modelID`'s ranking of prompt `promptID` from its scores of the
    /// candidates: the higher first, dense ranks, equal scores tied.
    public func store(promptID: Int, modelID: Int, jobID: Int?, method: String, rubric: String? = nil, scores: [(candidateID: Int, score: Double)],
                      in database: Database) throws {
        guard scores.count >= 2 else { return }
        try database.execute("DELETE FROM ai_rankings WHERE prompt_id = ? AND model_version_id = ?", [promptID, modelID])
        try database.execute("INSERT INTO ai_rankings (prompt_id, model_version_id, job_id, method, rubric) VALUES (?, ?, ?, ?, ?)",
                             [promptID, modelID, jobID, method, rubric])
        let rankingID = Int(database.lastInsertRowID)
        let distinct = Array(Set(scores.map(\.score))).sorted(by: >)
        let rankOf = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($1, $0 + 1) })
        for (candidate, score) in scores {
            try database.execute("INSERT INTO ai_ranking_entries (ai_ranking_id, candidate_id, rank, score) VALUES (?, ?, ?, ?)",
                                 [rankingID, candidate, min(9, rankOf[score]!), score])
        }
    }

    /// Candidate id to rank, for each prompt model `modelID` ranked in the project.
    func ranks(projectID: Int, modelID: Int, in database: Database) throws -> [Int: [Int: Int]] {
        var ranks: [Int: [Int: Int]] = [:]
        for row in try database.query("""
            SELECT a.prompt_id, e.candidate_id, e.rank FROM ai_rankings a JOIN ai_ranking_entries e ON e.ai_ranking_id = a.id
            JOIN prompts p ON p.id = a.prompt_id WHERE p.project_id = ? AND a.model_version_id = ?
            """, [projectID, modelID]) {
            ranks[try row.int("prompt_id"), default: [:]][try row.int("candidate_id")] = try row.int("rank")
        }
        return ranks
    }

    /// Every model version that labeled the project, measured against people.
    public func labelers(projectID: Int, resamples: Int = 1000, in database: Database) throws -> [AILabeler] {
        let models = try database.query("""
            SELECT a.model_version_id, v.name, min(a.method) AS method, count(*) AS rankings FROM ai_rankings a
            JOIN model_versions v ON v.id = a.model_version_id JOIN prompts p ON p.id = a.prompt_id
            WHERE p.project_id = ? GROUP BY a.model_version_id ORDER BY a.model_version_id
            """, [projectID])
        guard !models.isEmpty else { return [] }
        var people: [Int: [(ranks: [Int: Int], heldOut: Bool)]] = [:]
        try RankingRepository().forEachRanking(projectID: projectID, in: database) { ranking in
            people[ranking.promptID, default: []].append((Dictionary(uniqueKeysWithValues: ranking.entries.map { ($0.candidateID, $0.rank) }),
                                                          ranking.labelerGroup == "held_out"))
        }
        return try models.map { row in
            let modelID = try row.int("model_version_id")
            var all: [Int: (agreeing: Int, pairs: Int)] = [:], heldOut: [Int: (agreeing: Int, pairs: Int)] = [:]
            for (promptID, own) in try ranks(projectID: projectID, modelID: modelID, in: database) {
                for person in people[promptID] ?? [] {
                    let counted = Agreement.pairwise(own, person.ranks)
                    guard counted.pairs > 0 else { continue }
                    let before = all[promptID] ?? (0, 0)
                    all[promptID] = (before.agreeing + counted.agreeing, before.pairs + counted.pairs)
                    if person.heldOut {
                        let previous = heldOut[promptID] ?? (0, 0)
                        heldOut[promptID] = (previous.agreeing + counted.agreeing, previous.pairs + counted.pairs)
                    }
                }
            }
            return AILabeler(modelVersionId: modelID, name: try row.string("name"), method: try row.string("method"), rankings: try row.int("rankings"),
                             promptsRankedByPeople: all.count, agreementWithPeople: QualityReport.Rate(all, resamples: resamples),
                             agreementWithHeldOutLabelers: QualityReport.Rate(heldOut, resamples: resamples))
        }
    }

    /// The AI labels as TRL's conversational preference records, one per untied pair: the
    /// prompt as messages, the better and the worse answer each as an assistant message, and
    /// which model judged and by how much. One form for every line, so `datasets` types the
    /// file whole.
    public func comparisonLines(projectID: Int, modelID: Int?, in database: Database) throws -> [String] {
        var lines: [String] = []
        for ranking in try database.query("""
            SELECT a.id, a.prompt_id, a.model_version_id, v.name, a.method, a.rubric, p.kind, p.content FROM ai_rankings a
            JOIN prompts p ON p.id = a.prompt_id JOIN model_versions v ON v.id = a.model_version_id
            WHERE p.project_id = ?1 AND (?2 IS NULL OR a.model_version_id = ?2) ORDER BY a.id
            """, [projectID, modelID]) {
            let content = try PromptContent.fromStorage(kind: try ranking.string("kind"), content: try ranking.string("content"))
            let messages: JSONValue
            switch content {
            case .text(let text): messages = .array([.object([("role", .string("user")), ("content", .string(text))])])
            case .conversation(let turns): messages = .array(turns.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) })
            }
            let entries = try database.query("""
                SELECT e.rank, e.score, c.text FROM ai_ranking_entries e JOIN candidates c ON c.id = e.candidate_id
                WHERE e.ai_ranking_id = ? ORDER BY e.rank, e.candidate_id
                """, [try ranking.int("id")]).map { (rank: try $0.int("rank"), score: try $0.double("score"), text: try $0.string("text")) }
            func answer(_ text: String) -> JSONValue { .array([.object([("role", .string("assistant")), ("content", .string(text))])]) }
            for better in entries.indices {
                for worse in entries.indices where entries[better].rank < entries[worse].rank {
                    lines.append(JSONWriter.string(.object([
                        ("prompt", messages), ("chosen", answer(entries[better].text)), ("rejected", answer(entries[worse].text)),
                        ("score_chosen", .double(entries[better].score)), ("score_rejected", .double(entries[worse].score)),
                        ("prompt_id", .integer(Int64(try ranking.int("prompt_id")))),
                        ("judge", .object([("model_version_id", .integer(Int64(try ranking.int("model_version_id")))), ("name", .string(try ranking.string("name"))),
                                           ("method", .string(try ranking.string("method"))), ("rubric", ranking.optionalString("rubric").map(JSONValue.string) ?? .null)])),
                    ])))
                }
            }
        }
        return lines
    }
}
