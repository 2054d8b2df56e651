import Storage

/// The model's check of one ranking: how many of its preferences a reward head fitted without
/// its labeler's labels reverses confidently (the reverse at a probability of at least
/// `LabelCheck.confidence`), and the strongest such reverse. RLTHF (arXiv 2502.13417) finds
/// mislabeled preferences this way; Tally lists them for a person to review, never drops them.
public struct LabelCheck: Sendable, Equatable {
    /// The probability of the reverse preference from which a disagreement counts as confident.
    public static let confidence = 0.8

    public let rankingID: Int
    public let pairs: Int
    public let confidentDisagreements: Int
    public let strongestDisagreement: Double

    public init(rankingID: Int, pairs: Int, confidentDisagreements: Int, strongestDisagreement: Double) {
        (self.rankingID, self.pairs, self.confidentDisagreements, self.strongestDisagreement) = (rankingID, pairs, confidentDisagreements, strongestDisagreement)
    }
}

/// One labeler's share of preferences the model confidently reverses, for the quality page.
public struct LabelCheckSummary: Sendable, Encodable, Equatable {
    public let modelVersionId: Int
    public let rankings: Int
    public let pairs: Int
    public let confidentDisagreements: Int
    public var share: Double { pairs > 0 ? Double(confidentDisagreements) / Double(pairs) : 0 }

    enum CodingKeys: String, CodingKey { case modelVersionId, rankings, pairs, confidentDisagreements, share }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(modelVersionId, forKey: .modelVersionId)
        try container.encode(rankings, forKey: .rankings)
        try container.encode(pairs, forKey: .pairs)
        try container.encode(confidentDisagreements, forKey: .confidentDisagreements)
        try container.encode(share, forKey: .share)
    }
}

/// A checked ranking as the review list shows it.
public struct CheckedRanking: Sendable, Encodable, Equatable {
    public let rankingId: Int
    public let promptId: Int
    public let labelerId: Int
    public let username: String
    public let pairs: Int
    public let confidentDisagreements: Int
    public let strongestDisagreement: Double
    public let modelVersionId: Int
}

public struct LabelCheckRepository: Sendable {
    public init() {}

    /// Replaces the project's checks with `checks`, made by reward model version `modelID`'s job.
    public func store(_ checks: [LabelCheck], modelID: Int, projectID: Int, in database: Database) throws {
        try database.execute("""
            DELETE FROM label_checks WHERE ranking_id IN
              (SELECT r.id FROM rankings r JOIN prompts p ON p.id = r.prompt_id WHERE p.project_id = ?)
            """, [projectID])
        for check in checks {
            try database.execute("""
                INSERT INTO label_checks (ranking_id, model_version_id, pairs, confident_disagreements, strongest_disagreement)
                VALUES (?, ?, ?, ?, ?)
                """, [check.rankingID, modelID, check.pairs, check.confidentDisagreements, check.strongestDisagreement])
        }
    }

    /// Each labeler's summary over their rankings in force that were checked.
    public func summaries(projectID: Int, in database: Database) throws -> [Int: LabelCheckSummary] {
        var summaries: [Int: LabelCheckSummary] = [:]
        for row in try database.query("""
            SELECT r.labeler_id, max(c.model_version_id) AS model, count(*) AS rankings, sum(c.pairs) AS pairs,
                   sum(c.confident_disagreements) AS disagreements
            FROM label_checks c JOIN current_rankings r ON r.id = c.ranking_id JOIN prompts p ON p.id = r.prompt_id
            WHERE p.project_id = ? GROUP BY r.labeler_id
            """, [projectID]) {
            summaries[try row.int("labeler_id")] = LabelCheckSummary(modelVersionId: try row.int("model"), rankings: try row.int("rankings"),
                                                                    pairs: try row.int("pairs"), confidentDisagreements: try row.int("disagreements"))
        }
        return summaries
    }

    /// The checked rankings in force with at least one confident disagreement, strongest
    /// first: what a reviewer opens (of one labeler when `labelerID` is given).
    public func disagreements(projectID: Int, labelerID: Int?, limit: Int, offset: Int, in database: Database) throws -> [CheckedRanking] {
        try database.query("""
            SELECT r.id, r.prompt_id, r.labeler_id, u.username, c.pairs, c.confident_disagreements, c.strongest_disagreement, c.model_version_id
            FROM label_checks c JOIN current_rankings r ON r.id = c.ranking_id JOIN prompts p ON p.id = r.prompt_id
            JOIN users u ON u.id = r.labeler_id
            WHERE p.project_id = ?1 AND c.confident_disagreements > 0 AND (?2 IS NULL OR r.labeler_id = ?2)
            ORDER BY c.strongest_disagreement DESC, r.id LIMIT ?3 OFFSET ?4
            """, [projectID, labelerID, limit, offset]).map { row in
            CheckedRanking(rankingId: try row.int("id"), promptId: try row.int("prompt_id"), labelerId: try row.int("labeler_id"),
                           username: try row.string("username"), pairs: try row.int("pairs"),
                           confidentDisagreements: try row.int("confident_disagreements"),
                           strongestDisagreement: try row.double("strongest_disagreement"), modelVersionId: try row.int("model_version_id"))
        }
    }
}
