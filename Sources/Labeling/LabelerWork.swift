import Storage

/// What a labeler's home page shows: for each project, the work waiting in their queues, and what
/// they have done today (since midnight UTC).
public struct LabelerWork: Sendable, Encodable {
    public struct ProjectQueue: Sendable, Encodable {
        public let project: Project
        public let rankingsRemaining: Int
        public let demonstrationsRemaining: Int
        /// Blind pairs of model versions' answers waiting for this labeler's verdict.
        public let evaluationsRemaining: Int
        /// Prompts the project still wants written by its labelers (0 when it wants none).
        public let promptsWanted: Int
        /// Tasks this labeler holds now, with when each returns to the queue.
        public let held: [Assignment]
    }

    public struct Today: Sendable, Encodable {
        /// The start of the day counted, ISO 8601 UTC.
        public let since: String
        public let rankings: Int
        public let demonstrations: Int
        public let evaluations: Int
        public let promptsWritten: Int
        public let skipped: Int
        /// Seconds spent on today's rankings, demonstrations and evaluations, as the labeling screens measured.
        public let secondsSpent: Double
    }

    public let projects: [ProjectQueue]
    public let today: Today

    public static func compute(labelerID: Int, in database: Database) throws -> LabelerWork {
        let queues = AssignmentRepository()
        let projects = try ProjectRepository().all(in: database).map { project in
            let written = try database.queryScalarInt("SELECT count(*) FROM prompts WHERE project_id = ? AND source = 'labeler' AND id NOT IN (SELECT prompt_id FROM conversation_turns)", [project.id]) ?? 0
            let held = try database.query("""
                SELECT a.id, a.prompt_id, a.kind, a.shown_order, a.assigned_at, a.expires_at FROM assignments a JOIN prompts p ON p.id = a.prompt_id
                WHERE a.labeler_id = ? AND p.project_id = ? AND a.status = 'active' AND a.expires_at > \(AssignmentRepository.now) ORDER BY a.id
                """, [labelerID, project.id]).map(Assignment.init(row:))
            return ProjectQueue(project: project,
                                rankingsRemaining: try queues.remaining(.ranking, project: project, labelerID: labelerID, in: database),
                                demonstrationsRemaining: try queues.remaining(.demonstration, project: project, labelerID: labelerID, in: database),
                                evaluationsRemaining: try EvaluationRepository().remaining(project: project, labelerID: labelerID, in: database),
                                promptsWanted: max(0, project.promptsWanted - written), held: held)
        }
        let since = "strftime('%Y-%m-%dT00:00:00.000Z', 'now')"
        let row = try database.queryOne("""
            SELECT \(since) AS since,
                   (SELECT count(*) FROM current_rankings WHERE labeler_id = ?1 AND submitted_at >= \(since)) AS rankings,
                   (SELECT count(*) FROM current_demonstrations WHERE labeler_id = ?1 AND submitted_at >= \(since)) AS demonstrations,
                   (SELECT count(*) FROM evaluation_judgments WHERE labeler_id = ?1 AND submitted_at >= \(since)) AS evaluations,
                   (SELECT count(*) FROM prompts WHERE author_id = ?1 AND source = 'labeler' AND id NOT IN (SELECT prompt_id FROM conversation_turns) AND created_at >= \(since)) AS prompts_written,
                   (SELECT count(*) FROM assignments WHERE labeler_id = ?1 AND status = 'skipped' AND finished_at >= \(since)) AS skipped,
                   (SELECT coalesce(sum(seconds_spent), 0) FROM current_rankings WHERE labeler_id = ?1 AND submitted_at >= \(since))
                 + (SELECT coalesce(sum(seconds_spent), 0) FROM demonstrations WHERE labeler_id = ?1 AND submitted_at >= \(since))
                 + (SELECT coalesce(sum(seconds_spent), 0) FROM evaluation_judgments WHERE labeler_id = ?1 AND submitted_at >= \(since)) AS seconds_spent
            """, [labelerID])!
        return LabelerWork(projects: projects, today: Today(
            since: try row.string("since"), rankings: try row.int("rankings"), demonstrations: try row.int("demonstrations"), evaluations: try row.int("evaluations"),
            promptsWritten: try row.int("prompts_written"), skipped: try row.int("skipped"), secondsSpent: row.optionalDouble("seconds_spent") ?? 0))
    }
}
