import JSON
import Storage

/// Why an account could not be created or changed, in words for the person who asked.
public struct AccountError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    /// A taken username is a conflict; a malformed one is the request's fault.
    public let isConflict: Bool
    public init(_ description: String, isConflict: Bool = false) { (self.description, self.isConflict) = (description, isConflict) }

    /// The code a route answers with: 409 `username_taken`, or 400 `invalid_account`.
    public var code: String { isConflict ? "username_taken" : "invalid_account" }
}

/// Reads and writes `users`. Passwords arrive already hashed: hashing belongs to the server's
/// cryptography, and this module never sees a password.
public struct UserRepository: Sendable {
    private static let columns = "id, username, display_name, role, status, labeler_group, created_at"

    public init() {}

    /// Creates a user; the username must be new (case-insensitively) and made of letters,
    /// digits, '.', '_' and '-'.
    public func create(username: String, displayName: String? = nil, role: Role, status: UserStatus = .active,
                       passwordHash: String, in database: Database) throws -> User {
        try Self.validate(username: username)
        do {
            try database.execute(
                "INSERT INTO users (username, display_name, role, status, password_hash) VALUES (?, ?, ?, ?, ?)",
                [username, displayName ?? username, role.rawValue, status.rawValue, passwordHash])
        } catch let error as DatabaseError where error.isUniqueViolation {
            throw AccountError("the username '\(username)' is taken", isConflict: true)
        }
        guard let user = try find(id: Int(database.lastInsertRowID), in: database) else {
            throw StorageError("the new user vanished inside its own transaction")
        }
        return user
    }

    public func find(id: Int, in database: Database) throws -> User? {
        try database.queryOne("SELECT \(Self.columns) FROM users WHERE id = ?", [id]).map(User.init(row:))
    }

    public func find(username: String, in database: Database) throws -> User? {
        try database.queryOne("SELECT \(Self.columns) FROM users WHERE username = ?", [username]).map(User.init(row:))
    }

    /// The stored password hash of `username`, with the user, for signing in.
    public func credentials(username: String, in database: Database) throws -> (user: User, passwordHash: String)? {
        guard let row = try database.queryOne("SELECT \(Self.columns), password_hash FROM users WHERE username = ?", [username]) else {
            return nil
        }
        return (try User(row: row), try row.string("password_hash"))
    }

    public func all(in database: Database) throws -> [User] {
        try database.query("SELECT \(Self.columns) FROM users ORDER BY id").map(User.init(row:))
    }

    public func count(in database: Database) throws -> Int {
        try database.queryScalarInt("SELECT count(*) FROM users") ?? 0
    }

    static func validate(username: String) throws {
        guard (1...64).contains(StoredText.length(username)) else { throw AccountError("a username has 1 to 64 characters") }
        guard username.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0) }) else {
            throw AccountError("the username '\(username)' may hold only letters, digits, '.', '_' and '-'")
        }
    }

    /// Changes a user's status and labeler group (an admin's decision; the caller audits it).
    /// Returns the updated user, nil when there is none.
    public func update(id: Int, status: UserStatus?, labelerGroup: LabelerGroup?, in database: Database) throws -> User? {
        try database.execute("UPDATE users SET status = coalesce(?, status), labeler_group = coalesce(?, labeler_group) WHERE id = ?",
                             [status?.rawValue, labelerGroup?.rawValue, id])
        return try find(id: id, in: database)
    }
}
