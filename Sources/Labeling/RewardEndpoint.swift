import JSON
import Storage

/// A reward-model version served over OpenRLHF's remote reward protocol. Its secret travels in
/// the URL (OpenRLHF sends no credentials); the store holds only its SHA-256, which arrives
/// already hashed.
public struct RewardEndpoint: Sendable, Encodable, Equatable {
    public let id: Int
    public let rewardModelId: Int
    public let name: String
    public let createdAt: String
    public let revokedAt: String?
    public let queriesScored: Int
    public let lastUsedAt: String?

    init(row: Row) throws {
        id = try row.int("id")
        rewardModelId = try row.int("reward_model_id")
        name = try row.string("name")
        createdAt = try row.string("created_at")
        revokedAt = row.optionalString("revoked_at")
        queriesScored = try row.int("queries_scored")
        lastUsedAt = row.optionalString("last_used_at")
    }
}

public struct RewardEndpointRepository: Sendable {
    private static let columns = "id, reward_model_id, name, created_at, revoked_at, queries_scored, last_used_at"

    public init() {}

    public func create(rewardModelID: Int, name: String, tokenHash: String, createdBy: Int?, in database: Database) throws -> RewardEndpoint {
        let name = name.trimmingCharacters(in: .whitespaces)
        guard (1...200).contains(StoredText.length(name)) else { throw LabelingError("field 'name' must have 1 to 200 characters") }
        guard let version = try ModelVersionRepository().find(id: rewardModelID, in: database) else {
            throw LabelingError("there is no model version \(rewardModelID)", kind: .notFound)
        }
        guard version.kind == "reward" else { throw LabelingError("model version \(rewardModelID) is a \(version.kind) model; only a reward model scores OpenRLHF's rollouts") }
        try database.execute("INSERT INTO reward_endpoints (reward_model_id, name, token_hash, created_by) VALUES (?, ?, ?, ?)",
                             [rewardModelID, name, tokenHash, createdBy])
        return try find(id: Int(database.lastInsertRowID), in: database)!
    }

    public func find(id: Int, in database: Database) throws -> RewardEndpoint? {
        try database.queryOne("SELECT \(Self.columns) FROM reward_endpoints WHERE id = ?", [id]).map(RewardEndpoint.init(row:))
    }

    /// The live (unrevoked) endpoint with this token hash.
    public func live(tokenHash: String, in database: Database) throws -> RewardEndpoint? {
        try database.queryOne("SELECT \(Self.columns) FROM reward_endpoints WHERE token_hash = ? AND revoked_at IS NULL", [tokenHash]).map(RewardEndpoint.init(row:))
    }

    public func all(rewardModelID: Int, in database: Database) throws -> [RewardEndpoint] {
        try database.query("SELECT \(Self.columns) FROM reward_endpoints WHERE reward_model_id = ? ORDER BY id", [rewardModelID]).map(RewardEndpoint.init(row:))
    }

    /// Ends the endpoint: its URL is refused from now on. Revoking twice is a conflict.
    public func revoke(id: Int, in database: Database) throws -> RewardEndpoint {
        guard let endpoint = try find(id: id, in: database) else { throw LabelingError("there is no reward endpoint \(id)", kind: .notFound) }
        guard endpoint.revokedAt == nil else { throw LabelingError("reward endpoint \(id) was revoked at \(endpoint.revokedAt!)", kind: .conflict) }
        try database.execute("UPDATE reward_endpoints SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?", [id])
        return try find(id: id, in: database)!
    }

    public func recordUse(id: Int, queries: Int, in database: Database) throws {
        try database.execute("""
            UPDATE reward_endpoints SET queries_scored = queries_scored + ?, last_used_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?
            """, [queries, id])
    }
}
