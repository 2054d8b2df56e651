import Storage

/// A signed-in browser session. The database holds only the SHA-256 of its token.
public struct Session: Sendable, Equatable {
    public let id: Int
    public let userID: Int
    public let csrfToken: String
    public let expiresAt: String
}

/// Reads and writes `sessions` and `api_tokens`. Tokens arrive already hashed: this module never
/// sees a secret that would open an account.
public struct SessionRepository: Sendable {
    public init() {}

    public func create(userID: Int, tokenHash: String, csrfToken: String, lifetimeSeconds: Int, in database: Database) throws -> Session {
        try database.execute(
            "INSERT INTO sessions (user_id, token_hash, csrf_token, expires_at) VALUES (?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?))",
            [userID, tokenHash, csrfToken, "+\(lifetimeSeconds) seconds"])
        return Session(id: Int(database.lastInsertRowID), userID: userID, csrfToken: csrfToken,
                       expiresAt: try database.queryScalarText("SELECT expires_at FROM sessions WHERE id = ?", [database.lastInsertRowID]) ?? "")
    }

    /// The unexpired session with this token hash, with its user.
    public func find(tokenHash: String, in database: Database) throws -> (Session, User)? {
        guard let row = try database.queryOne("""
            SELECT s.id AS session_id, s.csrf_token, s.expires_at, u.id, u.username, u.display_name, u.role, u.status,
                   u.labeler_group, u.created_at
            FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.token_hash = ? AND s.expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            """, [tokenHash]) else { return nil }
        let user = try User(row: row)
        return (Session(id: try row.int("session_id"), userID: user.id, csrfToken: try row.string("csrf_token"),
                        expiresAt: try row.string("expires_at")), user)
    }

    public func delete(id: Int, in database: Database) throws {
        try database.execute("DELETE FROM sessions WHERE id = ?", [id])
    }

    /// Removes expired sessions; returns how many.
    public func deleteExpired(in database: Database) throws -> Int {
        try database.execute("DELETE FROM sessions WHERE expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
        return database.changes
    }

    public func createAPIToken(userID: Int, name: String, tokenHash: String, in database: Database) throws -> Int {
        try database.execute("INSERT INTO api_tokens (user_id, name, token_hash) VALUES (?, ?, ?)", [userID, name, tokenHash])
        return Int(database.lastInsertRowID)
    }

    /// The user of an unrevoked API token, and whether its last recorded use is over a minute
    /// old (so the caller records this one; recording every use would cost a durable write per
    /// request).
    public func findAPIToken(tokenHash: String, in database: Database) throws -> (tokenID: Int, user: User, useIsStale: Bool)? {
        guard let row = try database.queryOne("""
            SELECT t.id AS token_id, u.id, u.username, u.display_name, u.role, u.status, u.labeler_group, u.created_at,
                   (t.last_used_at IS NULL OR t.last_used_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-60 seconds')) AS stale
            FROM api_tokens t JOIN users u ON u.id = t.user_id
            WHERE t.token_hash = ? AND t.revoked_at IS NULL
            """, [tokenHash]) else { return nil }
        return (try row.int("token_id"), try User(row: row), try row.int("stale") == 1)
    }

    public func touchAPIToken(id: Int, in database: Database) throws {
        try database.execute("UPDATE api_tokens SET last_used_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?", [id])
    }
}
