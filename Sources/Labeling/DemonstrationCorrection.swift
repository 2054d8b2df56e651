import Foundation
import JSON
import Storage

/// A labeler's own demonstration, as their history and the correction screen show it: the
/// prompt, what they wrote, and until when they may still correct it.
public struct OwnDemonstration: Sendable, Encodable {
    public let id: Int
    public let projectId: Int
    public let projectName: String
    public let promptId: Int
    public let prompt: JSONValue
    public let text: String
    public let prefilledFromCandidateId: Int?
    public let submittedAt: String
    /// The demonstration this one corrected, if it is a correction.
    public let correctsId: Int?
    /// When a later correction superseded it; nil while it is in force.
    public let supersededAt: String?
    /// The end of the correction window (the labeler's first demonstration of the prompt plus
    /// the project's correction minutes); nil when the project allows no corrections.
    public let correctableUntil: String?
    /// Whether it may be corrected now: in force, and inside the window.
    public let correctable: Bool
}

/// Corrections of demonstrations, as `RankingCorrections` does for rankings: within the project's
/// correction minutes of first writing a demonstration for the prompt, the labeler's correction
/// is checked as a new submission and stored as a new demonstration that supersedes the old one,
/// which stays (marked with when), so an export as of an earlier time, and an SFT job's
/// snapshot, still hold the old text.
public struct DemonstrationCorrections: Sendable {
    public init() {}

    /// The labeler's demonstration `demonstrationID`; nil when there is none of theirs.
    public func own(demonstrationID: Int, labelerID: Int, in database: Database) throws -> OwnDemonstration? {
        try demonstrations(where: "d.id = ?1 AND d.labeler_id = ?2", [demonstrationID, labelerID], in: database).first
    }

    /// The labeler's most recent demonstrations in force, newest first, across projects.
    public func recent(labelerID: Int, limit: Int = 20, in database: Database) throws -> [OwnDemonstration] {
        try demonstrations(where: "d.labeler_id = ?1 AND d.superseded_at IS NULL", [labelerID], order: "d.id DESC", limit: limit, in: database)
    }

    /// Stores `submission` as the correction of the labeler's demonstration; returns the new
    /// demonstration's id. Refused, naming why, when it is not theirs, was corrected already, or
    /// is past its window, and as a new submission would be when it is wrong.
    public func correct(demonstrationID: Int, with submission: DemonstrationSubmission, labelerID: Int, in database: Database) throws -> Int {
        guard let old = try own(demonstrationID: demonstrationID, labelerID: labelerID, in: database) else {
            throw LabelingError("you have no demonstration \(demonstrationID)", kind: .notFound)
        }
        if old.supersededAt != nil {
            let newer = try database.queryScalarInt("SELECT id FROM demonstrations WHERE corrects_id = ?", [demonstrationID])
            throw LabelingError("demonstration \(demonstrationID) was corrected already\(newer.map { ", by demonstration \($0); correct that one" } ?? "")", kind: .conflict)
        }
        guard let until = old.correctableUntil else { throw LabelingError("this project allows no corrections of demonstrations", kind: .conflict) }
        guard old.correctable else {
            throw LabelingError("demonstration \(demonstrationID) could be corrected until \(until); the project allows corrections for a set time after a prompt's first demonstration", kind: .conflict)
        }
        let checked = try DemonstrationRepository().check(submission, promptID: old.promptId, in: database)
        guard submission.text != old.text || submission.prefilledFromCandidateId != old.prefilledFromCandidateId else {
            throw LabelingError("field 'text' is the demonstration as it stands; change it to correct it")
        }
        try database.execute("UPDATE demonstrations SET superseded_at = \(AssignmentRepository.now) WHERE id = ?", [demonstrationID])
        return try DemonstrationRepository().insert(checked, labelerID: labelerID, corrects: demonstrationID, in: database)
    }

    private func demonstrations(where condition: String, _ arguments: StatementArguments, order: String = "d.id",
                                limit: Int = 1, in database: Database) throws -> [OwnDemonstration] {
        try database.query("""
            SELECT d.id, d.prompt_id, d.text, d.prefilled_from_candidate_id, d.submitted_at, d.corrects_id, d.superseded_at,
                   p.project_id, p.kind, p.content, j.name AS project_name, j.correction_minutes,
                   strftime('%Y-%m-%dT%H:%M:%fZ', (SELECT min(f.submitted_at) FROM demonstrations f WHERE f.prompt_id = d.prompt_id AND f.labeler_id = d.labeler_id),
                            '+' || j.correction_minutes || ' minutes') AS until,
                   \(AssignmentRepository.now) AS now
            FROM demonstrations d JOIN prompts p ON p.id = d.prompt_id JOIN projects j ON j.id = p.project_id
            WHERE \(condition) ORDER BY \(order) LIMIT \(limit)
            """, arguments).map { row in
            let until = try row.int("correction_minutes") > 0 ? row.optionalString("until") : nil
            let supersededAt = row.optionalString("superseded_at")
            let now = try row.string("now")
            return OwnDemonstration(
                id: try row.int("id"), projectId: try row.int("project_id"), projectName: try row.string("project_name"), promptId: try row.int("prompt_id"),
                prompt: try PromptContent.fromStorage(kind: try row.string("kind"), content: try row.string("content")).jsonValue,
                text: try row.string("text"), prefilledFromCandidateId: row.optionalInt("prefilled_from_candidate_id"), submittedAt: try row.string("submitted_at"),
                correctsId: row.optionalInt("corrects_id"), supersededAt: supersededAt, correctableUntil: until,
                correctable: supersededAt == nil && until.map { now < $0 } == true)
        }
    }
}
