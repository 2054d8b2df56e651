import Storage

/// What a researcher watches while data grows: counts, labels per day, and each labeler's output.
public struct ProjectStatistics: Sendable, Codable, Equatable {
    public struct Day: Sendable, Codable, Equatable {
        public let day: String
        public let rankings: Int
    }

    public struct Labeler: Sendable, Codable, Equatable {
        public let labelerId: Int
        public let username: String
        public let labelerGroup: String
        public let rankings: Int
        /// Average seconds per ranking, over rankings that reported their time.
        public let averageSeconds: Double?
        public let lastSubmittedAt: String?
    }

    public let prompts: Int
    public let candidates: Int
    public let rankings: Int
    /// Prompts ranked by as many labelers as the project's overlap asks.
    public let promptsComplete: Int
    /// Prompts with at least two candidates that still need rankings.
    public let promptsOpen: Int
    public let rankingsPerDay: [Day]
    public let labelers: [Labeler]

    public static func compute(projectID: Int, in database: Database) throws -> ProjectStatistics? {
        guard let project = try ProjectRepository().find(id: projectID, in: database) else { return nil }
        let counts = try database.queryOne("""
            SELECT (SELECT count(*) FROM prompts WHERE project_id = ?1) AS prompts,
                   (SELECT count(*) FROM candidates c JOIN prompts p ON p.id = c.prompt_id WHERE p.project_id = ?1) AS candidates,
                   (SELECT count(*) FROM rankings r JOIN prompts p ON p.id = r.prompt_id WHERE p.project_id = ?1) AS rankings,
                   (SELECT count(*) FROM prompts p WHERE p.project_id = ?1
                      AND (SELECT count(*) FROM rankings r WHERE r.prompt_id = p.id) >= ?2) AS complete,
                   (SELECT count(*) FROM prompts p WHERE p.project_id = ?1
                      AND (SELECT count(*) FROM candidates c WHERE c.prompt_id = p.id) >= 2
                      AND (SELECT count(*) FROM rankings r WHERE r.prompt_id = p.id) < ?2) AS open
            """, [projectID, project.overlap])!
        let days = try database.query("""
            SELECT substr(r.submitted_at, 1, 10) AS day, count(*) AS rankings FROM rankings r JOIN prompts p ON p.id = r.prompt_id
            WHERE p.project_id = ? GROUP BY day ORDER BY day
            """, [projectID]).map { Day(day: try $0.string("day"), rankings: try $0.int("rankings")) }
        let labelers = try database.query("""
            SELECT u.id, u.username, u.labeler_group, count(*) AS rankings, avg(r.seconds_spent) AS seconds, max(r.submitted_at) AS last
            FROM rankings r JOIN prompts p ON p.id = r.prompt_id JOIN users u ON u.id = r.labeler_id
            WHERE p.project_id = ? GROUP BY u.id ORDER BY rankings DESC, u.id
            """, [projectID]).map {
                Labeler(labelerId: try $0.int("id"), username: try $0.string("username"), labelerGroup: try $0.string("labeler_group"),
                        rankings: try $0.int("rankings"), averageSeconds: $0.optionalDouble("seconds"), lastSubmittedAt: $0.optionalString("last"))
            }
        return ProjectStatistics(prompts: try counts.int("prompts"), candidates: try counts.int("candidates"), rankings: try counts.int("rankings"),
                                 promptsComplete: try counts.int("complete"), promptsOpen: try counts.int("open"),
                                 rankingsPerDay: days, labelers: labelers)
    }
}
