import JSON
import Storage

/// A labeler's own ranking, as the correction screen and the labeler's history show it: the
/// prompt with its candidates in the order the labeler saw them, what they gave, and until when
/// they may still correct it.
public struct OwnRanking: Sendable, Encodable {
    public typealias Entry = PromptLabels.RankingEntry

    public struct PromptView: Sendable, Encodable {
        public let id: Int
        public let prompt: JSONValue
        /// In the order the labeler was shown them.
        public let candidates: [Candidate]
    }

    public let id: Int
    public let projectId: Int
    public let projectName: String
    public let prompt: PromptView
    public let entries: [Entry]
    public let shownOrder: [Int]
    public let noneAcceptable: Bool
    public let allEqual: Bool
    public let strength: Double?
    public let comment: String
    public let submittedAt: String
    /// The ranking this one corrected, if it is a correction.
    public let correctsId: Int?
    /// When a later correction superseded this ranking; nil while it is in force.
    public let supersededAt: String?
    /// The end of the correction window (the labeler's first ranking of the prompt plus the
    /// project's correction minutes); nil when the project allows no corrections.
    public let correctableUntil: String?
    /// Whether it may be corrected now: in force, and inside the window.
    public let correctable: Bool
}

/// Corrections of rankings. A labeler corrects their own ranking within the project's
/// correction minutes of first ranking the prompt: the correction is checked as a new
/// submission and stored as a new ranking that supersedes the old one, which stays (marked with
/// when), so an export as of an earlier time, and a job's snapshot, still hold the old one.
public struct RankingCorrections: Sendable {
    public init() {}

    /// The labeler's ranking `rankingID`; nil when there is none of theirs (another labeler's
    /// ranking is not theirs to see here).
    public func own(rankingID: Int, labelerID: Int, in database: Database) throws -> OwnRanking? {
        try rankings(where: "r.id = ?1 AND r.labeler_id = ?2", [rankingID, labelerID], in: database).first
    }

    /// The labeler's most recent rankings in force, newest first, across projects.
    public func recent(labelerID: Int, limit: Int = 20, in database: Database) throws -> [OwnRanking] {
        try rankings(where: "r.labeler_id = ?1 AND r.superseded_at IS NULL", [labelerID], order: "r.id DESC", limit: limit, in: database)
    }

    /// Stores `submission` as the correction of the labeler's ranking `rankingID`; returns the
    /// new ranking's id. Refused, naming why, when the ranking is not theirs, was corrected
    /// already, or is past its window, and as a new submission would be when it is wrong.
    public func correct(rankingID: Int, with submission: RankingSubmission, labelerID: Int, in database: Database) throws -> Int {
        let old = try changeable(rankingID: rankingID, labelerID: labelerID, to: "corrected", in: database)
        guard submission.shownOrder == old.shownOrder else {
            throw LabelingError("field 'shownOrder' must be the order you were shown the first time, \(old.shownOrder)")
        }
        let checked = try RankingRepository().check(submission, promptID: old.prompt.id, in: database, allowsLiveTurns: true)
        try database.execute("UPDATE rankings SET superseded_at = \(AssignmentRepository.now) WHERE id = ?", [rankingID])
        return try RankingRepository().insert(checked, labelerID: labelerID, corrects: rankingID, in: database)
    }

    /// Withdraws the labeler's ranking `rankingID` (Undo), inside the same window as a
    /// correction: it is superseded by nothing, so it leaves the labels in force (the row stays,
    /// as a corrected one does), and the task returns to the labeler, held for them again in the
    /// order they were shown. Returns the prompt's id.
    public func withdraw(rankingID: Int, labelerID: Int, in database: Database) throws -> Int {
        let old = try changeable(rankingID: rankingID, labelerID: labelerID, to: "withdrawn", in: database)
        guard let project = try ProjectRepository().find(id: old.projectId, in: database) else { throw LabelingError("the prompt's project is gone", kind: .notFound) }
        try database.execute("UPDATE rankings SET superseded_at = \(AssignmentRepository.now) WHERE id = ?", [rankingID])
        // The task is the labeler's again: their assignment (or a new one, for a ranking sent
        // without one) is live, with the order they were shown.
        try database.execute("""
            INSERT INTO assignments (prompt_id, labeler_id, kind, shown_order, expires_at)
            VALUES (?1, ?2, 'ranking', ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || ?4 || ' minutes'))
            ON CONFLICT (prompt_id, labeler_id, kind) DO UPDATE SET status = 'active', finished_at = NULL, assigned_at = \(AssignmentRepository.now),
                expires_at = excluded.expires_at
            """, [old.prompt.id, labelerID, JSONColumns.encode(old.shownOrder), project.assignmentMinutes])
        return old.prompt.id
    }

    /// The labeler's ranking if it may be corrected or withdrawn now (`change` says which, for
    /// the message): theirs, in force, and inside the project's window.
    private func changeable(rankingID: Int, labelerID: Int, to change: String, in database: Database) throws -> OwnRanking {
        guard let ranking = try own(rankingID: rankingID, labelerID: labelerID, in: database) else {
            throw LabelingError("you have no ranking \(rankingID)", kind: .notFound)
        }
        try checkInForce(ranking, in: database)
        guard let until = ranking.correctableUntil else {
            throw LabelingError("this project allows no corrections of rankings", kind: .conflict)
        }
        guard ranking.correctable else {
            throw LabelingError("ranking \(rankingID) could be \(change) until \(until); the project allows corrections for a set time after a prompt is first ranked", kind: .conflict)
        }
        return ranking
    }

    /// A ranking that is still in force, or the reason it is not (corrected, naming by which;
    /// or withdrawn).
    private func checkInForce(_ ranking: OwnRanking, in database: Database) throws {
        guard ranking.supersededAt != nil else { return }
        if let newer = try database.queryScalarInt("SELECT id FROM rankings WHERE corrects_id = ?", [ranking.id]) {
            throw LabelingError("ranking \(ranking.id) was corrected already, by ranking \(newer); correct that one", kind: .conflict)
        }
        throw LabelingError("ranking \(ranking.id) was withdrawn; rank the prompt again from the queue", kind: .conflict)
    }

    private func rankings(where condition: String, _ arguments: StatementArguments, order: String = "r.id",
                          limit: Int = 1, in database: Database) throws -> [OwnRanking] {
        try database.query("""
            SELECT r.id, r.prompt_id, r.shown_order, r.none_acceptable, r.all_equal, r.strength, r.comment, r.submitted_at, r.corrects_id,
                   r.superseded_at, p.project_id, j.name AS project_name, j.correction_minutes,
                   strftime('%Y-%m-%dT%H:%M:%fZ', (SELECT min(f.submitted_at) FROM rankings f WHERE f.prompt_id = r.prompt_id AND f.labeler_id = r.labeler_id),
                            '+' || j.correction_minutes || ' minutes') AS until,
                   \(AssignmentRepository.now) AS now
            FROM rankings r JOIN prompts p ON p.id = r.prompt_id JOIN projects j ON j.id = p.project_id
            WHERE \(condition) ORDER BY \(order) LIMIT \(limit)
            """, arguments).map { row in
            let id = try row.int("id")
            let promptID = try row.int("prompt_id")
            guard let prompt = try PromptRepository().find(id: promptID, in: database) else {
                throw LabelingError("there is no prompt \(promptID)", kind: .notFound)
            }
            let shownOrder = try JSONColumns.integers(row, "shown_order")
            let byID = Dictionary(uniqueKeysWithValues: prompt.candidates.map { ($0.id, $0) })
            let shown = shownOrder.compactMap { byID[$0] }
            let entries = try database.query("SELECT candidate_id, rank, rating, flags FROM ranking_entries WHERE ranking_id = ? ORDER BY rank, candidate_id", [id]).map {
                OwnRanking.Entry(candidateId: try $0.int("candidate_id"), rank: try $0.int("rank"), rating: $0.optionalInt("rating"),
                                 flags: try JSONColumns.strings($0, "flags"))
            }
            let minutes = try row.int("correction_minutes")
            let until = minutes > 0 ? row.optionalString("until") : nil
            let supersededAt = row.optionalString("superseded_at")
            let now = try row.string("now")
            return OwnRanking(
                id: id, projectId: try row.int("project_id"), projectName: try row.string("project_name"),
                prompt: OwnRanking.PromptView(id: promptID, prompt: prompt.content.jsonValue, candidates: shown.count == prompt.candidates.count ? shown : prompt.candidates),
                entries: entries, shownOrder: shownOrder, noneAcceptable: try row.int("none_acceptable") == 1, allEqual: try row.int("all_equal") == 1,
                strength: row.optionalDouble("strength"), comment: try row.string("comment"), submittedAt: try row.string("submitted_at"),
                correctsId: row.optionalInt("corrects_id"), supersededAt: supersededAt, correctableUntil: until,
                correctable: supersededAt == nil && until.map { now < $0 } == true)
        }
    }
}
