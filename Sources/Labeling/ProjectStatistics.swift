import Storage

/// What a researcher watches while data grows: counts, labels per day, and each labeler's output.
public struct ProjectStatistics: Sendable, Codable, Equatable {
    /// Labels submitted on one UTC day.
    public struct Day: Sendable, Codable, Equatable {
        public let day: String
        public let rankings: Int
        public let demonstrations: Int
    }

    public struct Labeler: Sendable, Codable, Equatable {
        public let labelerId: Int
        public let username: String
        public let labelerGroup: String
        public let rankings: Int
        /// Average seconds per ranking, over rankings that reported their time.
        public let averageSeconds: Double?
        public let demonstrations: Int
        public let promptsWritten: Int
        public let skipped: Int
        public let lastSubmittedAt: String?
    }

    /// Tasks of one kind by status: handed out and live, handed out and expired (back in the
    /// queue), submitted, skipped.
    public struct TaskCounts: Sendable, Codable, Equatable {
        public let kind: String
        public let active: Int
        public let expired: Int
        public let submitted: Int
        public let skipped: Int
    }

    public let prompts: Int
    public let candidates: Int
    public let rankings: Int
    /// Prompts ranked by as many labelers as the project's overlap asks.
    public let promptsComplete: Int
    /// Prompts with at least two candidates that still need rankings.
    public let promptsOpen: Int
    public let demonstrations: Int
    /// Prompts written by the project's labelers, and how many more the project wants.
    public let promptsWritten: Int
    public let promptsWanted: Int
    public let tasks: [TaskCounts]
    public let labelsPerDay: [Day]
    public let labelers: [Labeler]

    public static func compute(projectID: Int, in database: Database) throws -> ProjectStatistics? {
        guard let project = try ProjectRepository().find(id: projectID, in: database) else { return nil }
        let counts = try database.queryOne("""
            SELECT (SELECT count(*) FROM prompts WHERE project_id = ?1) AS prompts,
                   (SELECT count(*) FROM candidates c JOIN prompts p ON p.id = c.prompt_id WHERE p.project_id = ?1) AS candidates,
                   (SELECT count(*) FROM current_rankings r JOIN prompts p ON p.id = r.prompt_id WHERE p.project_id = ?1) AS rankings,
                   (SELECT count(*) FROM prompts p WHERE p.project_id = ?1
                      AND (SELECT count(*) FROM current_rankings r WHERE r.prompt_id = p.id) >= ?2) AS complete,
                   (SELECT count(*) FROM prompts p WHERE p.project_id = ?1
                      AND (SELECT count(*) FROM candidates c WHERE c.prompt_id = p.id) >= 2
                      AND (SELECT count(*) FROM current_rankings r WHERE r.prompt_id = p.id) < ?2) AS open
            """, [projectID, project.overlap])!
        let days = try database.query("""
            SELECT day, sum(kind = 'ranking') AS rankings, sum(kind = 'demonstration') AS demonstrations FROM (
              SELECT substr(r.submitted_at, 1, 10) AS day, 'ranking' AS kind FROM current_rankings r JOIN prompts p ON p.id = r.prompt_id WHERE p.project_id = ?1
              UNION ALL
              SELECT substr(d.submitted_at, 1, 10), 'demonstration' FROM current_demonstrations d JOIN prompts p ON p.id = d.prompt_id WHERE p.project_id = ?1)
            GROUP BY day ORDER BY day
            """, [projectID]).map { Day(day: try $0.string("day"), rankings: try $0.int("rankings"), demonstrations: try $0.int("demonstrations")) }
        let labelers = try database.query("""
            SELECT * FROM (
              SELECT u.id, u.username, u.labeler_group,
                     (SELECT count(*) FROM current_rankings r JOIN prompts p ON p.id = r.prompt_id WHERE p.project_id = ?1 AND r.labeler_id = u.id) AS rankings,
                     (SELECT avg(r.seconds_spent) FROM current_rankings r JOIN prompts p ON p.id = r.prompt_id WHERE p.project_id = ?1 AND r.labeler_id = u.id) AS seconds,
                     (SELECT count(*) FROM current_demonstrations d JOIN prompts p ON p.id = d.prompt_id WHERE p.project_id = ?1 AND d.labeler_id = u.id) AS demonstrations,
                     (SELECT count(*) FROM prompts p WHERE p.project_id = ?1 AND p.source = 'labeler' AND p.author_id = u.id AND p.id NOT IN (SELECT prompt_id FROM conversation_turns)) AS prompts_written,
                     (SELECT count(*) FROM assignments a JOIN prompts p ON p.id = a.prompt_id WHERE p.project_id = ?1 AND a.labeler_id = u.id
                        AND a.status = 'skipped') AS skipped,
                     -- max() of several arguments is NULL when any is: compare with '' in place of none.
                     nullif(max(coalesce((SELECT max(r.submitted_at) FROM current_rankings r JOIN prompts p ON p.id = r.prompt_id
                                          WHERE p.project_id = ?1 AND r.labeler_id = u.id), ''),
                                coalesce((SELECT max(d.submitted_at) FROM current_demonstrations d JOIN prompts p ON p.id = d.prompt_id
                                          WHERE p.project_id = ?1 AND d.labeler_id = u.id), '')), '') AS last
              FROM users u)
            WHERE rankings + demonstrations + prompts_written + skipped > 0
            ORDER BY rankings + demonstrations DESC, id
            """, [projectID]).map {
                Labeler(labelerId: try $0.int("id"), username: try $0.string("username"), labelerGroup: try $0.string("labeler_group"),
                        rankings: try $0.int("rankings"), averageSeconds: $0.optionalDouble("seconds"), demonstrations: try $0.int("demonstrations"),
                        promptsWritten: try $0.int("prompts_written"), skipped: try $0.int("skipped"), lastSubmittedAt: $0.optionalString("last"))
            }
        let tasks = try TaskKind.allCases.map { kind in
            let row = try database.queryOne("""
                SELECT coalesce(sum(a.status = 'active' AND a.expires_at > \(AssignmentRepository.now)), 0) AS active,
                       coalesce(sum(a.status = 'active' AND a.expires_at <= \(AssignmentRepository.now)), 0) AS expired,
                       coalesce(sum(a.status = 'skipped'), 0) AS skipped,
                       (SELECT count(*) FROM \(kind.submissionTable) s JOIN prompts p ON p.id = s.prompt_id WHERE p.project_id = ?1) AS submitted
                FROM assignments a JOIN prompts p ON p.id = a.prompt_id WHERE p.project_id = ?1 AND a.kind = ?2
                """, [projectID, kind.rawValue])!
            return TaskCounts(kind: kind.rawValue, active: try row.int("active"), expired: try row.int("expired"),
                              submitted: try row.int("submitted"), skipped: try row.int("skipped"))
        }
        let written = try database.queryScalarInt("SELECT count(*) FROM prompts WHERE project_id = ? AND source = 'labeler' AND id NOT IN (SELECT prompt_id FROM conversation_turns)", [projectID]) ?? 0
        return ProjectStatistics(prompts: try counts.int("prompts"), candidates: try counts.int("candidates"), rankings: try counts.int("rankings"),
                                 promptsComplete: try counts.int("complete"), promptsOpen: try counts.int("open"),
                                 demonstrations: tasks.first { $0.kind == "demonstration" }?.submitted ?? 0,
                                 promptsWritten: written, promptsWanted: max(0, project.promptsWanted - written),
                                 tasks: tasks, labelsPerDay: days, labelers: labelers)
    }
}
