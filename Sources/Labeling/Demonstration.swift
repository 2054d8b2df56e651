import Storage

/// A labeler's demonstration, as submitted.
public struct DemonstrationSubmission: Sendable, Decodable {
    public let text: String
    /// The candidate whose text the labeler started from, when they edited a model suggestion.
    public let prefilledFromCandidateId: Int?
    public let secondsSpent: Double?
}

/// One stored demonstration with its prompt, as the SFT export reads it.
public struct StoredDemonstration: Sendable {
    public let id: Int
    public let promptID: Int
    public let labelerID: Int
    public let content: PromptContent
    public let split: String
    public let text: String
    public let prefilled: Bool
}

/// A demonstration that passed `DemonstrationRepository.check`.
public struct CheckedDemonstration: Sendable {
    let promptID: Int
    let submission: DemonstrationSubmission
}

public struct DemonstrationRepository: Sendable {
    public init() {}

    public func submit(_ submission: DemonstrationSubmission, promptID: Int, labelerID: Int, in database: Database) throws -> Int {
        let checked = try check(submission, promptID: promptID, in: database)
        guard let prompt = try PromptRepository().find(id: promptID, in: database), let project = try ProjectRepository().find(id: prompt.projectID, in: database) else {
            throw LabelingError("the prompt's project is gone", kind: .notFound)
        }
        _ = try AssignmentRepository().claim(.demonstration, promptID: promptID, labelerID: labelerID, overlap: project.overlap, in: database)
        do {
            return try insert(checked, labelerID: labelerID, corrects: nil, in: database)
        } catch let error as DatabaseError where error.isUniqueViolation {
            throw LabelingError("you have written a demonstration for prompt \(promptID) already; correct it from your history instead", kind: .conflict)
        }
    }

    /// A demonstration for prompt `promptID` as it may be stored, or why not, naming the field:
    /// what a first submission and a correction are both held to.
    public func check(_ submission: DemonstrationSubmission, promptID: Int, in database: Database) throws -> CheckedDemonstration {
        guard let prompt = try PromptRepository().find(id: promptID, in: database) else {
            throw LabelingError("there is no prompt \(promptID)", kind: .notFound)
        }
        guard !submission.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw LabelingError("field 'text' must not be empty")
        }
        try TextLimits.check(submission.text, field: "text", limit: TextLimits.content)
        if let candidate = submission.prefilledFromCandidateId, !prompt.candidates.contains(where: { $0.id == candidate }) {
            throw LabelingError("field 'prefilledFromCandidateId' is not a candidate of prompt \(promptID)")
        }
        try TimeSpent.check(submission.secondsSpent)
        return CheckedDemonstration(promptID: promptID, submission: submission)
    }

    /// Stores a checked demonstration, the correction of `corrects` when given; returns its id.
    func insert(_ checked: CheckedDemonstration, labelerID: Int, corrects: Int?, in database: Database) throws -> Int {
        try database.execute("""
            INSERT INTO demonstrations (prompt_id, labeler_id, text, prefilled_from_candidate_id, seconds_spent, corrects_id) VALUES (?, ?, ?, ?, ?, ?)
            """, [checked.promptID, labelerID, checked.submission.text, checked.submission.prefilledFromCandidateId, checked.submission.secondsSpent, corrects])
        return Int(database.lastInsertRowID)
    }

    /// Up to `limit` demonstrations of the project that pass `filter`, with ids above `after`, in
    /// id order: one page, for readers that stop between pages (a streamed export).
    public func demonstrations(projectID: Int, filter: RankingFilter, after: Int, limit: Int = 500, in database: Database) throws -> [StoredDemonstration] {
        try database.query("""
            SELECT d.id, d.prompt_id, d.labeler_id, d.text, d.prefilled_from_candidate_id, p.kind, p.content, p.split
            FROM demonstrations d JOIN prompts p ON p.id = d.prompt_id JOIN users u ON u.id = d.labeler_id
            WHERE p.project_id = ?1 AND d.id > ?7 AND (?2 IS NULL OR p.split = ?2) AND (?3 IS NULL OR u.labeler_group = ?3)
              AND (?4 IS NULL OR d.submitted_at >= ?4) AND (?5 IS NULL OR d.submitted_at < ?5)
              AND (?6 IS NULL OR d.labeler_id IN (SELECT value FROM json_each(?6)))
              AND (?9 IS NULL OR d.id IN (SELECT item_id FROM job_snapshot WHERE job_id = ?9 AND item_kind = 'demonstration'))
              -- In force at `until` (a snapshot names its demonstrations itself).
              AND (?9 IS NOT NULL OR d.superseded_at IS NULL OR (?5 IS NOT NULL AND d.superseded_at >= ?5))
            ORDER BY d.id LIMIT ?8
            """, [projectID, filter.split, filter.labelerGroup, filter.since, filter.until, filter.labelerIdsJSON, after, limit, filter.snapshotJobId]).map { row in
            StoredDemonstration(
                id: try row.int("id"), promptID: try row.int("prompt_id"), labelerID: try row.int("labeler_id"),
                content: try PromptContent.fromStorage(kind: try row.string("kind"), content: try row.string("content")),
                split: try row.string("split"), text: try row.string("text"), prefilled: row.optionalInt("prefilled_from_candidate_id") != nil)
        }
    }
}

import Foundation
