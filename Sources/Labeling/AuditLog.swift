import Storage

/// Appends to `audit_log`: sign-ins and administrative actions.
public struct AuditLog: Sendable {
    public init() {}

    public func record(action: String, actorUserID: Int?, subject: String? = nil, detail: String? = nil,
                       remoteAddress: String? = nil, in database: Database) throws {
        try database.execute(
            "INSERT INTO audit_log (actor_user_id, action, subject, detail, remote_address) VALUES (?, ?, ?, ?, ?)",
            [actorUserID, action, subject, detail, remoteAddress])
    }
}
