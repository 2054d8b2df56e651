import Storage

/// A person with an account.
public struct User: Sendable, Equatable, Codable {
    public let id: Int
    public let username: String
    public let displayName: String
    public let role: Role
    public let status: UserStatus
    public let labelerGroup: LabelerGroup
    public let createdAt: String

    init(row: Row) throws {
        id = try row.int("id")
        username = try row.string("username")
        displayName = try row.string("display_name")
        guard let role = Role(rawValue: try row.string("role")),
              let status = UserStatus(rawValue: try row.string("status")),
              let group = LabelerGroup(rawValue: try row.string("labeler_group")) else {
            throw StorageError("user \(id) has a role, status or group this build does not know")
        }
        self.role = role
        self.status = status
        self.labelerGroup = group
        createdAt = try row.string("created_at")
    }
}
