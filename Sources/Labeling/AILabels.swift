import Foundation
import JSON
import Storage

/// Who gave an AI label: one of Tally's model versions, or a registered endpoint.
public enum AIJudge: Sendable, Equatable {
    case model(Int)
    case endpoint(Int)

    var modelVersionID: Int? { if case .model(let id) = self { id } else { nil } }
    var endpointID: Int? { if case .endpoint(let id) = self { id } else { nil } }
}

/// A model version or an endpoint acting as a labeler (RLAIF), measured as a labeler is: its
/// rankings' pairwise agreement with people's rankings in force of the same prompts, with a
/// bootstrap interval over prompts, overall and against the held-out labelers alone.
public struct AILabeler: Sendable, Encodable {
    /// The judge: a model version, or (for a served model) an endpoint.
    public let modelVersionId: Int?
    public let endpointId: Int?
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

    /// Stores (or replaces) `judge`'s ranking of prompt `promptID` from its scores of the
    /// candidates: the higher first, dense ranks, equal scores tied.
    public func store(promptID: Int, judge: AIJudge, jobID: Int?, method: String, rubric: String? = nil, scores: [(candidateID: Int, score: Double)],
                      in database: Database) throws {
        guard scores.count >= 2 else { return }
        try database.execute("DELETE FROM ai_rankings WHERE prompt_id = ? AND (model_version_id = ? OR endpoint_id = ?)", [promptID, judge.modelVersionID, judge.endpointID])
        try database.execute("INSERT INTO ai_rankings (prompt_id, model_version_id, endpoint_id, job_id, method, rubric) VALUES (?, ?, ?, ?, ?, ?)",
                             [promptID, judge.modelVersionID, judge.endpointID, jobID, method, rubric])
        let rankingID = Int(database.lastInsertRowID)
        let distinct = Array(Set(scores.map(\.score))).sorted(by: >)
        let rankOf = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($1, $0 + 1) })
        for (candidate, score) in scores {
            try database.execute("INSERT INTO ai_ranking_entries (ai_ranking_id, candidate_id, rank, score) VALUES (?, ?, ?, ?)",
                                 [rankingID, candidate, min(9, rankOf[score]!), score])
        }
    }

    /// Candidate id to rank, for each prompt `judge` ranked in the project.
    func ranks(projectID: Int, judge: AIJudge, in database: Database) throws -> [Int: [Int: Int]] {
        var ranks: [Int: [Int: Int]] = [:]
        for row in try database.query("""
            SELECT a.prompt_id, e.candidate_id, e.rank FROM ai_rankings a JOIN ai_ranking_entries e ON e.ai_ranking_id = a.id
            JOIN prompts p ON p.id = a.prompt_id WHERE p.project_id = ? AND (a.model_version_id = ? OR a.endpoint_id = ?)
            """, [projectID, judge.modelVersionID, judge.endpointID]) {
            ranks[try row.int("prompt_id"), default: [:]][try row.int("candidate_id")] = try row.int("rank")
        }
        return ranks
    }

    /// Every model version and endpoint that labeled the project, measured against people.
    public func labelers(projectID: Int, resamples: Int = 1000, in database: Database) throws -> [AILabeler] {
        let models = try database.query("""
            SELECT a.model_version_id, a.endpoint_id, coalesce(v.name, e.name) AS name, min(a.method) AS method, count(*) AS rankings FROM ai_rankings a
            LEFT JOIN model_versions v ON v.id = a.model_version_id LEFT JOIN model_endpoints e ON e.id = a.endpoint_id JOIN prompts p ON p.id = a.prompt_id
            WHERE p.project_id = ? GROUP BY a.model_version_id, a.endpoint_id ORDER BY a.endpoint_id IS NOT NULL, a.model_version_id, a.endpoint_id
            """, [projectID])
        guard !models.isEmpty else { return [] }
        var people: [Int: [(ranks: [Int: Int], heldOut: Bool)]] = [:]
        try RankingRepository().forEachRanking(projectID: projectID, in: database) { ranking in
            people[ranking.promptID, default: []].append((Dictionary(uniqueKeysWithValues: ranking.entries.map { ($0.candidateID, $0.rank) }),
                                                          ranking.labelerGroup == "held_out"))
        }
        return try models.map { row in
            let modelID = row.optionalInt("model_version_id"), endpointID = row.optionalInt("endpoint_id")
            let judge: AIJudge = endpointID.map(AIJudge.endpoint) ?? .model(modelID ?? 0)
            var all: [Int: (agreeing: Int, pairs: Int)] = [:], heldOut: [Int: (agreeing: Int, pairs: Int)] = [:]
            for (promptID, own) in try ranks(projectID: projectID, judge: judge, in: database) {
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
            return AILabeler(modelVersionId: modelID, endpointId: endpointID, name: try row.string("name"), method: try row.string("method"), rankings: try row.int("rankings"),
                             promptsRankedByPeople: all.count, agreementWithPeople: QualityReport.Rate(all, resamples: resamples),
                             agreementWithHeldOutLabelers: QualityReport.Rate(heldOut, resamples: resamples))
        }
    }

    /// The AI labels as TRL's conversational preference records, one per untied pair: the
    /// prompt as messages, the better and the worse answer each as an assistant message, and
    /// which judge (a model version or an endpoint) and by how much. One form for every line,
    /// so `datasets` types the file whole. `judge` keeps one judge's labels only.
    public func comparisonLines(projectID: Int, judge: AIJudge?, in database: Database) throws -> [String] {
        var lines: [String] = []
        for ranking in try database.query("""
            SELECT a.id, a.prompt_id, a.model_version_id, a.endpoint_id, coalesce(v.name, e.name) AS name, a.method, a.rubric, p.kind, p.content FROM ai_rankings a
            JOIN prompts p ON p.id = a.prompt_id LEFT JOIN model_versions v ON v.id = a.model_version_id LEFT JOIN model_endpoints e ON e.id = a.endpoint_id
            WHERE p.project_id = ?1 AND (?2 IS NULL OR a.model_version_id = ?2) AND (?3 IS NULL OR a.endpoint_id = ?3) ORDER BY a.id
            """, [projectID, judge?.modelVersionID, judge?.endpointID]) {
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
                        ("judge", .object([("model_version_id", ranking.optionalInt("model_version_id").map { .integer(Int64($0)) } ?? .null),
                                           ("endpoint_id", ranking.optionalInt("endpoint_id").map { .integer(Int64($0)) } ?? .null), ("name", .string(try ranking.string("name"))),
                                           ("method", .string(try ranking.string("method"))), ("rubric", ranking.optionalString("rubric").map(JSONValue.string) ?? .null)])),
                    ])))
                }
            }
        }
        return lines
    }
}
