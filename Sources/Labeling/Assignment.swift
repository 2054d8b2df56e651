import Foundation
import JSON
import Storage

/// The kinds of task a labeler takes from a queue, one item (a prompt) at a time.
public enum TaskKind: String, Sendable, CaseIterable, Codable {
    /// Rate, flag and rank the prompt's candidates.
    case ranking
    /// Write the response a good assistant would give.
    case demonstration

    /// The table holding what labelers submit for this kind of task.
    var submissionTable: String {
        switch self {
        // A corrected label is superseded, not a second label: only labels in force count.
        case .ranking: return "current_rankings"
        case .demonstration: return "current_demonstrations"
        }
    }

    /// What makes a prompt labelable by this kind of task, as SQL over the prompt `p`. The turns
    /// of live conversations belong to their conversation's labeler, never to a queue.
    var promptCondition: String {
        let notLiveTurn = "NOT EXISTS (SELECT 1 FROM conversation_turns t WHERE t.prompt_id = p.id)"
        switch self {
        // Gold prompts are served only at the project's gold rate (see `AssignmentRepository.next`).
        case .ranking: return "(SELECT count(*) FROM candidates c WHERE c.prompt_id = p.id) >= 2 AND NOT EXISTS (SELECT 1 FROM gold_answers g WHERE g.prompt_id = p.id) AND " + notLiveTurn
        case .demonstration: return notLiveTurn
        }
    }
}

/// A task handed to one labeler: it holds one of the item's overlap slots while it is active and
/// unexpired. Expiry is decided by comparing `expiresAt` with the clock when the queue is read,
/// so an abandoned task returns to the queue without any job having to run.
public struct Assignment: Sendable, Equatable, Codable {
    public let id: Int
    public let promptId: Int
    public let kind: TaskKind
    /// Candidate ids in the order this labeler is shown them (ranking tasks).
    public let shownOrder: [Int]?
    public let assignedAt: String
    public let expiresAt: String

    init(row: Row) throws {
        id = try row.int("id")
        promptId = try row.int("prompt_id")
        guard let kind = TaskKind(rawValue: try row.string("kind")) else { throw StorageError("assignment \(id) has an unknown kind") }
        self.kind = kind
        shownOrder = try row.optionalString("shown_order").map { try JSONColumns.integers($0, column: "shown_order") }
        assignedAt = try row.string("assigned_at")
        expiresAt = try row.string("expires_at")
    }

}

/// The queue: which item a labeler gets next, skipping, and the claim a submission makes on its
/// slot. Every method that changes something runs on the writer.
public struct AssignmentRepository: Sendable {
    static let now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    private static let columns = "id, prompt_id, kind, shown_order, assigned_at, expires_at"
    public static let maximumSkipReasonLength = 1000

    public init() {}

    /// The prompts of the project this labeler may still take for `kind`: labelable, not yet
    /// submitted or skipped by them, and with fewer than `overlap` slots held by submissions and by
    /// other labelers' live assignments. Parameters: ?1 project, ?2 labeler, ?3 overlap.
    private func openPrompts(_ kind: TaskKind) -> String {
        """
        FROM prompts p WHERE p.project_id = ?1 AND \(kind.promptCondition)
          AND NOT EXISTS (SELECT 1 FROM \(kind.submissionTable) s WHERE s.prompt_id = p.id AND s.labeler_id = ?2)
          AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.prompt_id = p.id AND a.labeler_id = ?2 AND a.kind = '\(kind.rawValue)'
                          AND a.status <> 'active')
          AND (SELECT count(*) FROM \(kind.submissionTable) s WHERE s.prompt_id = p.id)
            + (SELECT count(*) FROM assignments a WHERE a.prompt_id = p.id AND a.kind = '\(kind.rawValue)' AND a.status = 'active'
               AND a.expires_at > \(Self.now) AND a.labeler_id <> ?2) < ?3
        """
    }

    /// How many items of `kind` this labeler can still take in the project (a held one included).
    public func remaining(_ kind: TaskKind, project: Project, labelerID: Int, in database: Database) throws -> Int {
        try database.queryScalarInt("SELECT count(*) " + openPrompts(kind), [project.id, labelerID, project.overlap]) ?? 0
    }

    /// The labeler's live assignment of `kind` in the project if they hold one (a reload resumes
    /// the same task, in the same order), else a new one on the first open prompt; nil when the
    /// queue is empty for them. A ranking assignment records its candidates shuffled into the order
    /// this labeler is shown, so position bias can be measured later.
    public func next(_ kind: TaskKind, project: Project, labelerID: Int, in database: Database) throws -> Assignment? {
        if let held = try database.queryOne("""
            SELECT a.\(Self.columns.replacingOccurrences(of: ", ", with: ", a.")) FROM assignments a JOIN prompts p ON p.id = a.prompt_id
            WHERE a.labeler_id = ? AND a.kind = ? AND p.project_id = ? AND a.status = 'active' AND a.expires_at > \(Self.now)
            ORDER BY a.id LIMIT 1
            """, [labelerID, kind.rawValue, project.id]) {
            return try Assignment(row: held)
        }
        guard var promptID = try database.queryScalarInt("SELECT p.id " + openPrompts(kind) + " ORDER BY " + Self.order(kind, project: project) + " LIMIT 1",
                                                         [project.id, labelerID, project.overlap]) else { return nil }
        // A gold prompt takes the place of the next task at the gold rate, while there is work to
        // mix it into: a labeler whose queue is empty is not served gold alone, which would show
        // what it is.
        if kind == .ranking, project.goldRate > 0, Double.random(in: 0..<1) < project.goldRate,
           let goldPromptID = try goldPrompt(project: project, labelerID: labelerID, in: database) {
            promptID = goldPromptID
        }
        var order: String?
        if kind == .ranking {
            let candidates = try database.query("SELECT id FROM candidates WHERE prompt_id = ? ORDER BY id", [promptID]).map { try $0.int("id") }
            order = JSONColumns.encode(candidates.shuffled())
        }
        // An expired assignment of this labeler to the same prompt is renewed, keeping its order.
        try database.execute("""
            INSERT INTO assignments (prompt_id, labeler_id, kind, shown_order, expires_at)
            VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || ?5 || ' minutes'))
            ON CONFLICT (prompt_id, labeler_id, kind) DO UPDATE SET assigned_at = \(Self.now), expires_at = excluded.expires_at
            """, [promptID, labelerID, kind.rawValue, order, project.assignmentMinutes])
        return try database.queryOne("SELECT \(Self.columns) FROM assignments WHERE prompt_id = ? AND labeler_id = ? AND kind = ?",
                                     [promptID, labelerID, kind.rawValue]).map(Assignment.init(row:))
    }

    /// The queue's order for the next task: the import order, or, for rankings under active
    /// selection, the prompts the latest reward model is least sure of first (prompts it has
    /// not scored after them), except for the project's random share of tasks, drawn at random.
    static func order(_ kind: TaskKind, project: Project) -> String {
        guard kind == .ranking, project.queueOrder == .uncertainty else { return "p.id" }
        if Double.random(in: 0..<1) < project.randomShare { return "random()" }
        return "(SELECT u.smallest_margin FROM prompt_uncertainty u WHERE u.prompt_id = p.id) ASC NULLS LAST, p.id"
    }

    /// A gold prompt of the project this labeler has neither ranked nor skipped, chosen at random.
    /// Gold prompts have no overlap limit: every labeler may be scored on each.
    private func goldPrompt(project: Project, labelerID: Int, in database: Database) throws -> Int? {
        try database.queryScalarInt("""
            SELECT p.id FROM prompts p WHERE p.project_id = ?1 AND EXISTS (SELECT 1 FROM gold_answers g WHERE g.prompt_id = p.id)
              AND NOT EXISTS (SELECT 1 FROM current_rankings r WHERE r.prompt_id = p.id AND r.labeler_id = ?2)
              AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.prompt_id = p.id AND a.labeler_id = ?2 AND a.kind = 'ranking' AND a.status <> 'active')
            ORDER BY random() LIMIT 1
            """, [project.id, labelerID])
    }

    /// The labeler gives the task back with a reason; the item is not offered to them again and
    /// its slot returns to the queue for others.
    public func skip(assignmentID: Int, labelerID: Int, reason: String, in database: Database) throws {
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else { throw LabelingError("field 'reason' must say why the task is skipped") }
        guard reason.count <= Self.maximumSkipReasonLength else { throw LabelingError("field 'reason' must have at most \(Self.maximumSkipReasonLength) characters") }
        guard let status = try database.queryOne("SELECT status FROM assignments WHERE id = ? AND labeler_id = ?", [assignmentID, labelerID])?.string("status") else {
            throw LabelingError("you hold no assignment \(assignmentID)", kind: .notFound)
        }
        guard status == "active" else { throw LabelingError("assignment \(assignmentID) is \(status) already", kind: .conflict) }
        try database.execute("UPDATE assignments SET status = 'skipped', skip_reason = ?, finished_at = \(Self.now) WHERE id = ?", [reason, assignmentID])
    }

    /// Claims the labeler's slot for a submission of `kind` on the prompt and marks the
    /// assignment submitted; returns the order the labeler was shown, when one was recorded.
    /// A live assignment always may submit. Without one (an API client that never asked the
    /// queue, or an assignment that expired) the submission takes a free slot if the item has
    /// one, else it is a conflict: nobody labels an item beyond its overlap.
    public func claim(_ kind: TaskKind, promptID: Int, labelerID: Int, overlap: Int, in database: Database) throws -> [Int]? {
        let held = try database.queryOne("""
            SELECT id, status, shown_order, expires_at > \(Self.now) AS live FROM assignments WHERE prompt_id = ? AND labeler_id = ? AND kind = ?
            """, [promptID, labelerID, kind.rawValue])
        if let held {
            switch try held.string("status") {
            case "skipped": throw LabelingError("you skipped prompt \(promptID)", kind: .conflict)
            case "submitted": throw LabelingError("you have submitted a \(kind.rawValue) of prompt \(promptID) already; correct it from your history instead", kind: .conflict)
            default: break
            }
        }
        if try held == nil || held?.int("live") == 0 {
            let taken = try database.queryScalarInt("""
                SELECT (SELECT count(*) FROM \(kind.submissionTable) WHERE prompt_id = ?1)
                     + (SELECT count(*) FROM assignments WHERE prompt_id = ?1 AND kind = ?2 AND status = 'active' AND expires_at > \(Self.now) AND labeler_id <> ?3)
                """, [promptID, kind.rawValue, labelerID]) ?? 0
            guard taken < overlap else {
                throw LabelingError("prompt \(promptID) has all the \(kind.rawValue)s it needs; \(held == nil ? "take tasks from the queue" : "your assignment expired")", kind: .conflict)
            }
        }
        // The submission itself records that the item is done; a submission without an
        // assignment needs no row here.
        guard let held else { return nil }
        try database.execute("UPDATE assignments SET status = 'submitted', finished_at = \(Self.now) WHERE id = ?", [try held.int("id")])
        return try held.optionalString("shown_order").map { try JSONColumns.integers($0, column: "shown_order") }
    }
}
