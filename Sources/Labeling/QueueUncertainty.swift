import Storage

/// Active selection's data: the reward model's scores of the candidates waiting to be ranked,
/// and each prompt's order key, the smallest difference between two of its candidates' scores
/// (the reward model is least sure which is better where two answers score alike).
public struct QueueUncertainty: Sendable {
    public init() {}

    /// The project's prompts that still wait for rankings (fewer rankings in force than the
    /// overlap) and have two candidates or more: what the queue may hand out next.
    public func promptsToScore(projectID: Int, in database: Database) throws -> [StoredPrompt] {
        guard let project = try ProjectRepository().find(id: projectID, in: database) else { return [] }
        let ids = try database.query("""
            SELECT p.id FROM prompts p WHERE p.project_id = ?1
              AND (SELECT count(*) FROM candidates c WHERE c.prompt_id = p.id) >= 2
              AND (SELECT count(*) FROM current_rankings r WHERE r.prompt_id = p.id) < ?2
            ORDER BY p.id
            """, [projectID, project.overlap]).map { try $0.int("id") }
        return try ids.compactMap { try PromptRepository().find(id: $0, in: database) }
    }

    /// The smallest difference between any two of `scores` (those of one prompt's candidates).
    public static func smallestMargin(_ scores: [Double]) -> Double? {
        guard scores.count >= 2 else { return nil }
        let sorted = scores.sorted()
        return zip(sorted, sorted.dropFirst()).map { $1 - $0 }.min()
    }

    /// Stores reward model `modelID`'s scores and replaces the project's order keys with the
    /// margins they give: prompts it did not score lose their key (they go after the scored ones).
    public func store(scores: [(promptID: Int, candidateScores: [(candidateID: Int, score: Double)])], modelID: Int, projectID: Int,
                      in database: Database) throws {
        try database.execute("DELETE FROM prompt_uncertainty WHERE prompt_id IN (SELECT id FROM prompts WHERE project_id = ?)", [projectID])
        for prompt in scores {
            for candidate in prompt.candidateScores {
                try database.execute("INSERT OR REPLACE INTO candidate_scores (candidate_id, model_version_id, score) VALUES (?, ?, ?)",
                                     [candidate.candidateID, modelID, candidate.score])
            }
            guard let margin = Self.smallestMargin(prompt.candidateScores.map(\.score)) else { continue }
            try database.execute("INSERT INTO prompt_uncertainty (prompt_id, model_version_id, smallest_margin) VALUES (?, ?, ?)",
                                 [prompt.promptID, modelID, margin])
        }
    }
}
