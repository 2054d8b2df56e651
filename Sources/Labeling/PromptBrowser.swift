import Foundation
import JSON
import Storage

/// Where a prompt stands in its project's ranking queue.
public enum PromptStatus: String, Sendable, Codable, CaseIterable {
    /// Fewer than two candidates: nothing to rank yet.
    case waitingForCandidates = "waiting-for-candidates"
    /// Ranked by fewer labelers than the project's overlap asks.
    case open
    /// Ranked by as many labelers as the overlap asks.
    case complete
}

/// Which prompts the researcher's data browser lists; every field is optional.
public struct PromptQuery: Sendable, Equatable {
    /// Text the prompt contains (case-insensitive), or its id.
    public var search: String?
    public var category: String?
    public var split: DataSplit?
    public var source: String?
    public var status: PromptStatus?
    /// Only gold prompts (true), or only the others (false).
    public var gold: Bool?
    /// Only prompts this labeler ranked or wrote a demonstration for.
    public var labelerID: Int?
    /// Only this prompt.
    public var promptID: Int?
    /// Prompts with ids above this, for the next page.
    public var after = 0
    public var limit = 50

    public init() {}
}

/// One prompt as the data browser lists it: what it is, and how far its labeling got.
public struct PromptSummary: Sendable, Encodable {
    public let id: Int
    public let prompt: JSONValue
    public let category: String?
    public let split: String
    public let source: String
    public let createdAt: String
    public let candidates: Int
    public let rankings: Int
    public let demonstrations: Int
    public let status: PromptStatus
    public let gold: Bool
}

/// Everything labelers did with one prompt: its candidates, every ranking with its labeler, its
/// demonstrations, the gold answer when it is a gold prompt, and how well its rankers agree.
public struct PromptLabels: Sendable, Encodable {
    public struct Labeler: Sendable, Encodable {
        public let id: Int
        public let username: String
        public let labelerGroup: String
    }

    public struct RankingEntry: Sendable, Encodable {
        public let candidateId: Int
        public let rank: Int
        public let rating: Int?
        public let flags: [String]
    }

    public struct Ranking: Sendable, Encodable {
        public let id: Int
        public let labeler: Labeler
        public let entries: [RankingEntry]
        public let shownOrder: [Int]
        public let noneAcceptable: Bool
        public let allEqual: Bool
        public let strength: Double?
        public let comment: String
        public let secondsSpent: Double?
        public let submittedAt: String
        /// The ranking this one corrects, and when this one was itself corrected (nil while it
        /// is in force): a prompt's history keeps every version.
        public let correctsId: Int?
        public let supersededAt: String?
    }

    public struct DemonstrationView: Sendable, Encodable {
        public let id: Int
        public let labeler: Labeler
        public let text: String
        public let prefilledFromCandidateId: Int?
        public let secondsSpent: Double?
        public let submittedAt: String
        /// The demonstration this one corrects, and when it was itself corrected (nil while in force).
        public let correctsId: Int?
        public let supersededAt: String?
    }

    public let summary: PromptSummary
    public let candidates: [Candidate]
    public let rankings: [Ranking]
    public let demonstrations: [DemonstrationView]
    /// The gold ranking (candidate id → rank) when the prompt is a gold prompt.
    public let goldRanks: [String: Int]?
    /// InstructGPT's pairwise agreement over every two rankings of this prompt: the share of
    /// candidate pairs the two labelers order the same way (nil with fewer than two rankings).
    public let agreement: Double?
    public let agreementPairs: Int
    /// When the prompt is a turn of a live conversation: the whole conversation, one thread.
    public let conversation: ConversationThread?
}

/// A live conversation as a researcher reads it: who held it, with which versions, and every
/// turn with both answers, the one chosen and how strongly.
public struct ConversationThread: Sendable, Encodable {
    public let id: Int
    public let labeler: PromptLabels.Labeler
    public let modelAId: Int?
    public let modelBId: Int?
    public let endpointAId: Int?
    public let endpointBId: Int?
    public let startedAt: String
    public let endedAt: String?
    /// Which turn of it the prompt is.
    public let turn: Int
    public let turns: [ConversationTurn]
}

/// The queries of the researcher's data browser.
public struct PromptBrowser: Sendable {
    public init() {}

    /// A page of the project's prompts that pass `query`, in id order.
    public func prompts(projectID: Int, _ query: PromptQuery, in database: Database) throws -> [PromptSummary] {
        guard let project = try ProjectRepository().find(id: projectID, in: database) else {
            throw LabelingError("there is no project \(projectID)", kind: .notFound)
        }
        let searchID = query.search.flatMap { Int($0.trimmingCharacters(in: .whitespaces).drop(while: { $0 == "#" })) }
        return try database.query("""
            SELECT * FROM (
              SELECT p.id, p.kind, p.content, p.category, p.split, p.source, p.created_at,
                     (SELECT count(*) FROM candidates c WHERE c.prompt_id = p.id) AS candidates,
                     (SELECT count(*) FROM current_rankings r WHERE r.prompt_id = p.id) AS rankings,
                     (SELECT count(*) FROM current_demonstrations d WHERE d.prompt_id = p.id) AS demonstrations,
                     EXISTS (SELECT 1 FROM gold_answers g WHERE g.prompt_id = p.id) AS gold
              FROM prompts p
              WHERE p.project_id = ?1 AND p.id > ?2
                AND (?3 IS NULL OR instr(lower(p.content), lower(?3)) > 0 OR p.id = ?4)
                AND (?5 IS NULL OR p.category = ?5) AND (?6 IS NULL OR p.split = ?6) AND (?7 IS NULL OR p.source = ?7)
                AND (?8 IS NULL OR p.id IN (SELECT prompt_id FROM current_rankings WHERE labeler_id = ?8
                                            UNION SELECT prompt_id FROM current_demonstrations WHERE labeler_id = ?8))
                AND (?13 IS NULL OR p.id = ?13)
            )
            WHERE (?9 IS NULL OR ?9 = CASE WHEN candidates < 2 THEN 'waiting-for-candidates' WHEN rankings >= ?10 THEN 'complete' ELSE 'open' END)
              AND (?11 IS NULL OR gold = ?11)
            ORDER BY id LIMIT ?12
            """, [projectID, query.after, query.search, searchID, query.category, query.split?.rawValue, query.source, query.labelerID,
                  query.status?.rawValue, project.overlap, query.gold, query.limit, query.promptID]).map { try summary($0, overlap: project.overlap) }
    }

    /// Everything about one prompt; nil when there is none.
    public func labels(promptID: Int, in database: Database) throws -> PromptLabels? {
        guard let prompt = try PromptRepository().find(id: promptID, in: database),
              let project = try ProjectRepository().find(id: prompt.projectID, in: database) else { return nil }
        var query = PromptQuery()
        query.promptID = promptID
        guard let summary = try prompts(projectID: project.id, query, in: database).first else { return nil }
        let rankings = try database.query("""
            SELECT r.id, r.labeler_id, u.username, u.labeler_group, r.shown_order, r.none_acceptable, r.all_equal, r.strength, r.comment,
                   r.seconds_spent, r.submitted_at, r.corrects_id, r.superseded_at
            FROM rankings r JOIN users u ON u.id = r.labeler_id WHERE r.prompt_id = ? ORDER BY r.id
            """, [promptID]).map { row in
            let id = try row.int("id")
            let entries = try database.query("SELECT candidate_id, rank, rating, flags FROM ranking_entries WHERE ranking_id = ? ORDER BY rank, candidate_id", [id]).map {
                PromptLabels.RankingEntry(candidateId: try $0.int("candidate_id"), rank: try $0.int("rank"), rating: $0.optionalInt("rating"),
                                          flags: try JSONColumns.strings($0, "flags"))
            }
            return PromptLabels.Ranking(
                id: id, labeler: try labeler(row), entries: entries, shownOrder: try JSONColumns.integers(row, "shown_order"),
                noneAcceptable: try row.int("none_acceptable") == 1, allEqual: try row.int("all_equal") == 1, strength: row.optionalDouble("strength"),
                comment: try row.string("comment"), secondsSpent: row.optionalDouble("seconds_spent"), submittedAt: try row.string("submitted_at"),
                correctsId: row.optionalInt("corrects_id"), supersededAt: row.optionalString("superseded_at"))
        }
        let demonstrations = try database.query("""
            SELECT d.id, d.labeler_id, u.username, u.labeler_group, d.text, d.prefilled_from_candidate_id, d.seconds_spent, d.submitted_at,
                   d.corrects_id, d.superseded_at
            FROM demonstrations d JOIN users u ON u.id = d.labeler_id WHERE d.prompt_id = ? ORDER BY d.id
            """, [promptID]).map {
            PromptLabels.DemonstrationView(id: try $0.int("id"), labeler: try labeler($0), text: try $0.string("text"),
                                           prefilledFromCandidateId: $0.optionalInt("prefilled_from_candidate_id"),
                                           secondsSpent: $0.optionalDouble("seconds_spent"), submittedAt: try $0.string("submitted_at"),
                                           correctsId: $0.optionalInt("corrects_id"), supersededAt: $0.optionalString("superseded_at"))
        }
        var goldRanks: [String: Int]?
        if summary.gold {
            goldRanks = Dictionary(uniqueKeysWithValues: try database.query("SELECT candidate_id, rank FROM gold_answers WHERE prompt_id = ?", [promptID])
                .map { (String(try $0.int("candidate_id")), try $0.int("rank")) })
        }
        var agreeing = 0, pairs = 0
        // Agreement is between the rankings in force; a superseded one is history.
        let ranks = rankings.filter { $0.supersededAt == nil }.map { Dictionary(uniqueKeysWithValues: $0.entries.map { ($0.candidateId, $0.rank) }) }
        for first in 0..<ranks.count {
            for second in (first + 1)..<ranks.count {
                let counted = Agreement.pairwise(ranks[first], ranks[second])
                agreeing += counted.agreeing
                pairs += counted.pairs
            }
        }
        return PromptLabels(summary: summary, candidates: prompt.candidates, rankings: rankings, demonstrations: demonstrations, goldRanks: goldRanks,
                            agreement: pairs > 0 ? Double(agreeing) / Double(pairs) : nil, agreementPairs: pairs,
                            conversation: try thread(ofPrompt: promptID, in: database))
    }

    private func thread(ofPrompt promptID: Int, in database: Database) throws -> ConversationThread? {
        let conversations = ConversationRepository()
        guard let id = try conversations.conversation(ofPrompt: promptID, in: database),
              let conversation = try conversations.find(id: id, in: database),
              let turn = conversation.turns.first(where: { $0.promptId == promptID }),
              let person = try database.queryOne("SELECT id AS labeler_id, username, labeler_group FROM users WHERE id = ?", [conversation.labelerId])
        else { return nil }
        return ConversationThread(id: conversation.id, labeler: try labeler(person), modelAId: conversation.modelAId, modelBId: conversation.modelBId,
                                  endpointAId: conversation.endpointAId, endpointBId: conversation.endpointBId,
                                  startedAt: conversation.startedAt, endedAt: conversation.endedAt, turn: turn.turn, turns: conversation.turns)
    }

    private func summary(_ row: Row, overlap: Int) throws -> PromptSummary {
        let content = try PromptContent.fromStorage(kind: try row.string("kind"), content: try row.string("content"))
        let prompt = content.jsonValue
        let (candidates, rankings) = (try row.int("candidates"), try row.int("rankings"))
        return PromptSummary(id: try row.int("id"), prompt: prompt, category: row.optionalString("category"), split: try row.string("split"),
                             source: try row.string("source"), createdAt: try row.string("created_at"), candidates: candidates, rankings: rankings,
                             demonstrations: try row.int("demonstrations"),
                             status: candidates < 2 ? .waitingForCandidates : rankings >= overlap ? .complete : .open, gold: try row.int("gold") == 1)
    }

    private func labeler(_ row: Row) throws -> PromptLabels.Labeler {
        PromptLabels.Labeler(id: try row.int("labeler_id"), username: try row.string("username"), labelerGroup: try row.string("labeler_group"))
    }
}
