import Foundation
import JSON
import Storage

/// A labeler's ranking of every candidate of one prompt, as submitted.
public struct RankingSubmission: Sendable, Decodable {
    public struct Entry: Sendable, Decodable {
        public let candidateId: Int
        /// 1 is best; equal ranks are ties.
        public let rank: Int
        public let rating: Int?
        public let flags: [String]?

        public init(candidateId: Int, rank: Int, rating: Int?, flags: [String]?) {
            (self.candidateId, self.rank, self.rating, self.flags) = (candidateId, rank, rating, flags)
        }
    }

    public let entries: [Entry]
    /// Candidate ids in the order the labeler saw them.
    public let shownOrder: [Int]
    public let noneAcceptable: Bool?
    /// The labeler's confirmation that every answer is equally good, which a ranking that ties
    /// them all needs (or `noneAcceptable`): an untouched ranking is never taken for a verdict.
    public let allEqual: Bool?
    /// How much better the answer ranked first is, on a graded-pair project's scale: 1
    /// (negligibly, or unsure) to 4 (much better). Only graded-pair projects take it, and need it.
    public let strength: Int?
    public let comment: String?
    public let secondsSpent: Double?

    public init(entries: [Entry], shownOrder: [Int], noneAcceptable: Bool?, allEqual: Bool? = nil, strength: Int? = nil, comment: String?, secondsSpent: Double?) {
        (self.entries, self.shownOrder, self.noneAcceptable, self.allEqual, self.strength, self.comment, self.secondsSpent)
            = (entries, shownOrder, noneAcceptable, allEqual, strength, comment, secondsSpent)
    }
}

public struct RankingRepository: Sendable {
    public init() {}

    /// A submission checked against its prompt and project, ready to store.
    public struct CheckedRanking: Sendable {
        let submission: RankingSubmission
        let promptID: Int
        /// The project's overlap, for the claim on a slot when the ranking is stored.
        let overlap: Int
        /// The graded pair's strength, or an imported pair's margin.
        var strength: Double? = nil
    }

    /// Checks the submission against the prompt and its project (on any connection: a reader
    /// will do, so the checks run in parallel outside the writer). Every candidate of the prompt
    /// must be ranked exactly once, ranks run from 1 to at most the number of candidates (ties
    /// share a rank), ratings lie on the project's scale, flags are the project's, and the shown
    /// order is a permutation of the candidates.
    ///
    /// A turn of a live conversation is a graded pair without ratings whatever the project's
    /// style, ranked once, by the conversation's labeler: it takes a ranking only from the
    /// conversation (`allowsLiveTurns`, as `ConversationRepository.choose` and corrections pass).
    public func check(_ submission: RankingSubmission, promptID: Int, in database: Database, allowsLiveTurns: Bool = false) throws -> CheckedRanking {
        guard let prompt = try PromptRepository().find(id: promptID, in: database) else {
            throw LabelingError("there is no prompt \(promptID)", kind: .notFound)
        }
        guard let project = try ProjectRepository().find(id: prompt.projectID, in: database) else {
            throw LabelingError("the prompt's project is gone", kind: .notFound)
        }
        let conversation = try ConversationRepository().conversation(ofPrompt: promptID, in: database)
        if let conversation, !allowsLiveTurns {
            throw LabelingError("prompt \(promptID) is a turn of live conversation \(conversation): its labeler chooses there", kind: .conflict)
        }
        let style = conversation == nil ? project.comparisonStyle : .gradedPair
        let candidateIDs = Set(prompt.candidates.map(\.id))
        guard candidateIDs.count >= 2 else { throw LabelingError("prompt \(promptID) has fewer than two candidates to rank") }
        let ranked = submission.entries.map(\.candidateId)
        guard Set(ranked) == candidateIDs, ranked.count == candidateIDs.count else {
            throw LabelingError("field 'entries' must rank each of the candidates \(candidateIDs.sorted()) exactly once")
        }
        guard Set(submission.shownOrder) == candidateIDs, submission.shownOrder.count == candidateIDs.count else {
            throw LabelingError("field 'shownOrder' must list each of the candidates \(candidateIDs.sorted()) once")
        }
        for (index, entry) in submission.entries.enumerated() {
            guard (1...candidateIDs.count).contains(entry.rank) else {
                throw LabelingError("field 'entries[\(index)].rank' must be from 1 to \(candidateIDs.count), not \(entry.rank)")
            }
            if let rating = entry.rating, !(project.ratingMinimum...project.ratingMaximum).contains(rating) {
                throw LabelingError("field 'entries[\(index)].rating' must be from \(project.ratingMinimum) to \(project.ratingMaximum), not \(rating)")
            }
            if let unknown = entry.flags?.first(where: { !project.flags.contains($0) }) {
                throw LabelingError("field 'entries[\(index)].flags' holds '\(unknown)', which is not one of the project's flags")
            }
        }
        guard submission.entries.contains(where: { $0.rank == 1 }) else { throw LabelingError("field 'entries' must give some candidate rank 1") }
        // Dense ranks: 1, 2, 2, 3, never 1, 3 (a gap is a rank the labeler meant and lost).
        let ranks = Set(submission.entries.map(\.rank)).sorted()
        if let gap = ranks.enumerated().first(where: { $0.element != $0.offset + 1 }) {
            throw LabelingError("field 'entries' must rank densely (1, 2, 2, 3): rank \(gap.element) has no rank \(gap.offset + 1) above it")
        }
        if project.ratingsRequired, conversation == nil, let index = submission.entries.firstIndex(where: { $0.rating == nil }) {
            throw LabelingError("field 'entries[\(index)].rating' is missing: this project asks for a rating of every answer")
        }
        let allTied = ranks.count == 1
        try Self.checkStrength(submission, style: style, allTied: allTied)
        if submission.allEqual == true, !allTied { throw LabelingError("field 'allEqual' is true, but the ranks differ") }
        if allTied, submission.allEqual != true, submission.noneAcceptable != true {
            throw LabelingError("every answer is tied at rank 1: confirm it with 'allEqual': true (all equally good) or 'noneAcceptable': true")
        }
        try TimeSpent.check(submission.secondsSpent)
        try TextLimits.check(submission.comment, field: "comment", limit: TextLimits.comment)
        // Gold prompts have no overlap limit: every labeler may be scored on each.
        let overlap = try GoldAnswerRepository().isGold(promptID: promptID, in: database) ? Int(Int32.max) : conversation == nil ? project.overlap : 1
        return CheckedRanking(submission: submission, promptID: promptID, overlap: overlap, strength: submission.strength.map(Double.init))
    }

    /// A graded pair needs its strength and a winner (the scale has no middle: its weakest
    /// grade is "negligibly better, or unsure"); a rate-and-rank ranking has no strength.
    static func checkStrength(_ submission: RankingSubmission, style: ComparisonStyle, allTied: Bool) throws {
        switch style {
        case .rateAndRank:
            if submission.strength != nil { throw LabelingError("field 'strength' is for graded-pair projects only; this project rates and ranks") }
        case .gradedPair:
            guard submission.entries.count == 2 else {
                throw LabelingError("field 'entries' must hold two answers: a graded-pair project compares two, and this prompt has \(submission.entries.count)")
            }
            guard let strength = submission.strength else {
                throw LabelingError("field 'strength' is missing: say how much better the chosen answer is, from 1 (negligibly, or unsure) to 4 (much better)")
            }
            guard (1...4).contains(strength) else { throw LabelingError("field 'strength' must be from 1 (negligibly better, or unsure) to 4 (much better), not \(strength)") }
            guard !allTied else { throw LabelingError("field 'entries' must rank one answer first: a graded pair has no tie (its weakest grade is 'negligibly better, or unsure')") }
        }
    }

    /// Stores a checked ranking on the writer, claiming the labeler's slot on the prompt (see
    /// `AssignmentRepository.claim`); returns its id. The shown order must be the one the queue
    /// recorded for the labeler's assignment, when there was one.
    public func store(_ checked: CheckedRanking, labelerID: Int, in database: Database) throws -> Int {
        let recordedOrder = try AssignmentRepository().claim(.ranking, promptID: checked.promptID, labelerID: labelerID, overlap: checked.overlap, in: database)
        if let recordedOrder, recordedOrder != checked.submission.shownOrder {
            throw LabelingError("field 'shownOrder' must be the order you were shown, \(recordedOrder)")
        }
        return try insert(checked, labelerID: labelerID, in: database)
    }

    /// Inserts the ranking and its entries. A second ranking in force of the same prompt by the
    /// same labeler is a conflict; `corrects` is the ranking a correction supersedes.
    func insert(_ checked: CheckedRanking, labelerID: Int, corrects: Int? = nil, in database: Database) throws -> Int {
        let submission = checked.submission
        let shownOrder = JSONColumns.encode(submission.shownOrder)
        do {
            try database.execute(
                "INSERT INTO rankings (prompt_id, labeler_id, none_acceptable, all_equal, strength, comment, shown_order, seconds_spent, corrects_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [checked.promptID, labelerID, submission.noneAcceptable ?? false, submission.allEqual ?? false, checked.strength, submission.comment ?? "",
                 shownOrder, submission.secondsSpent, corrects])
        } catch let error as DatabaseError where error.isUniqueViolation {
            throw LabelingError("you have ranked prompt \(checked.promptID) already", kind: .conflict)
        }
        let rankingID = Int(database.lastInsertRowID)
        for entry in submission.entries {
            try database.execute("INSERT INTO ranking_entries (ranking_id, candidate_id, rank, rating, flags) VALUES (?, ?, ?, ?, ?)",
                                 [rankingID, entry.candidateId, entry.rank, entry.rating,
                                  JSONColumns.encode(entry.flags ?? [])])
        }
        return rankingID
    }

    /// Checks and stores in one go, on the writer.
    public func submit(_ submission: RankingSubmission, promptID: Int, labelerID: Int, in database: Database) throws -> Int {
        try store(check(submission, promptID: promptID, in: database), labelerID: labelerID, in: database)
    }
}

/// One ranking with its prompt and entries, as exports read them.
public struct StoredRanking: Sendable {
    public struct Entry: Sendable {
        public let candidateID: Int
        public let text: String
        public let modelName: String
        public let rank: Int
        public let rating: Int?
        public let flags: [String]
    }

    public let id: Int
    public let labelerID: Int
    public let labelerGroup: String
    public let promptID: Int
    public let content: PromptContent
    public let split: String
    /// Best first (by rank, then candidate id).
    public let entries: [Entry]
    /// Candidate ids in the order the labeler saw them; empty for an imported ranking.
    public let shownOrder: [Int]
    public let noneAcceptable: Bool
    /// How much better the first of a ranking of two is (a graded pair, or an imported margin).
    public let strength: Double?
    public let comment: String
    public let secondsSpent: Double?
    public let submittedAt: String
}

/// Which rankings an export takes. Every field is optional; `until` bounds the snapshot, so an
/// export and its manifest made with the same filter describe the same rankings, and it takes
/// the rankings in force at that time: one corrected later is in it, its correction is not.
public struct RankingFilter: Sendable, Equatable, Codable {
    public var split: String?
    public var labelerGroup: String?
    /// Submitted at or after this ISO 8601 time.
    public var since: String?
    /// Submitted before this ISO 8601 time, and not yet corrected at it.
    public var until: String?
    /// Only labelers whose agreement with others (`QualityReport`) is at least this; the export
    /// resolves it into `labelerIds` when it starts, and the manifest echoes both.
    public var minimumAgreement: Double?
    public var labelerIds: [Int]?
    /// Only the rankings (or demonstrations) in this job's snapshot: what it trained on.
    public var snapshotJobId: Int?

    public init(split: String? = nil, labelerGroup: String? = nil, since: String? = nil, until: String? = nil) {
        (self.split, self.labelerGroup, self.since, self.until) = (split, labelerGroup, since, until)
    }

    /// `labelerIds` as SQL binds them: a JSON array read with `json_each`, or NULL for everyone.
    var labelerIdsJSON: String? { labelerIds.map(JSONColumns.encode) }
}

extension RankingRepository {
    /// Calls `body` with each ranking of the project that passes `filter`, in id order, reading a
    /// page at a time so an export of millions runs in constant memory.
    public func forEachRanking(projectID: Int, filter: RankingFilter = RankingFilter(), in database: Database,
                               _ body: (StoredRanking) throws -> Void) throws {
        var after = 0
        while true {
            let page = try rankings(projectID: projectID, filter: filter, after: after, in: database)
            guard let last = page.last else { return }
            for ranking in page { try body(ranking) }
            after = last.id
        }
    }

    /// Up to `limit` rankings of the project that pass `filter`, with ids above `after`, in id
    /// order: one page of `forEachRanking`, for readers that stop between pages (a streamed export).
    public func rankings(projectID: Int, filter: RankingFilter, after: Int, limit: Int = 500, in database: Database) throws -> [StoredRanking] {
        try database.query("""
            SELECT r.id, r.labeler_id, u.labeler_group, r.prompt_id, p.kind, p.content, p.split, r.shown_order, r.none_acceptable,
                   r.strength, r.comment, r.seconds_spent, r.submitted_at
            FROM rankings r JOIN prompts p ON p.id = r.prompt_id JOIN users u ON u.id = r.labeler_id
            WHERE p.project_id = ? AND r.id > ?
              AND (?3 IS NULL OR p.split = ?3) AND (?4 IS NULL OR u.labeler_group = ?4)
              AND (?5 IS NULL OR r.submitted_at >= ?5) AND (?6 IS NULL OR r.submitted_at < ?6)
              AND (?7 IS NULL OR r.labeler_id IN (SELECT value FROM json_each(?7)))
              AND (?9 IS NULL OR r.id IN (SELECT item_id FROM job_snapshot WHERE job_id = ?9 AND item_kind = 'ranking'))
              -- The rankings in force at `until` (now, without one): a correction supersedes the
              -- ranking it corrects from its own time on. A snapshot is what the job trained on.
              AND (?9 IS NOT NULL OR r.superseded_at IS NULL OR (?6 IS NOT NULL AND r.superseded_at >= ?6))
            ORDER BY r.id LIMIT ?8
            """, [projectID, after, filter.split, filter.labelerGroup, filter.since, filter.until, filter.labelerIdsJSON, limit, filter.snapshotJobId]).map { row in
            let id = try row.int("id")
            let entries = try database.query("""
                SELECT e.candidate_id, e.rank, e.rating, e.flags, c.text, c.model_name FROM ranking_entries e
                JOIN candidates c ON c.id = e.candidate_id WHERE e.ranking_id = ? ORDER BY e.rank, e.candidate_id
                """, [id]).map {
                    StoredRanking.Entry(candidateID: try $0.int("candidate_id"), text: try $0.string("text"), modelName: try $0.string("model_name"),
                                        rank: try $0.int("rank"), rating: $0.optionalInt("rating"), flags: try JSONColumns.strings($0, "flags"))
                }
            return StoredRanking(
                id: id, labelerID: try row.int("labeler_id"), labelerGroup: try row.string("labeler_group"), promptID: try row.int("prompt_id"),
                content: try PromptContent.fromStorage(kind: try row.string("kind"), content: try row.string("content")),
                split: try row.string("split"), entries: entries, shownOrder: try JSONColumns.integers(row, "shown_order"),
                noneAcceptable: try row.int("none_acceptable") == 1, strength: row.optionalDouble("strength"), comment: try row.string("comment"),
                secondsSpent: row.optionalDouble("seconds_spent"), submittedAt: try row.string("submitted_at"))
        }
    }
}

extension RankingRepository {
    /// Stores a ranking that arrived in an import, without the checks of a labeler's submission
    /// (an imported ranking may cover some of a prompt's candidates only). A second ranking of
    /// the same prompt by the same labeler is still a conflict. `strength` is an imported pair's
    /// margin (a ranking of two only; the importer checks it).
    public func storeImported(promptID: Int, labelerID: Int, entries: [RankingSubmission.Entry], strength: Double? = nil, in database: Database) throws -> Int {
        // The order the original labeler saw is unknown: an empty shown order says so (and keeps
        // the ranking out of position-bias measures).
        let submission = RankingSubmission(entries: entries, shownOrder: [], noneAcceptable: false, comment: "imported", secondsSpent: nil)
        return try insert(CheckedRanking(submission: submission, promptID: promptID, overlap: 0, strength: strength), labelerID: labelerID, in: database)
    }
}
