import Foundation
import Storage

/// Who may apply to label: the admin's choice.
public enum RegistrationMode: String, Sendable, CaseIterable, Codable {
    /// Only admins create accounts.
    case closed
    /// Anyone may apply.
    case open
    /// Applying needs an invite code from an admin.
    case invite
}

/// The server's registration policy: whether applicants may register and which screening test
/// they take.
public struct RegistrationPolicy: Sendable, Equatable, Codable {
    public let mode: RegistrationMode
    public let screeningTestId: Int?
    public let updatedAt: String
}

/// An invite code as admins see it; the code itself is shown only when it is created.
public struct InviteCode: Sendable, Equatable, Codable {
    public let id: Int
    public let note: String
    public let usesAllowed: Int
    public let uses: Int
    public let expiresAt: String
    public let revokedAt: String?
    public let createdAt: String

    init(row: Row) throws {
        id = try row.int("id")
        note = try row.string("note")
        usesAllowed = try row.int("uses_allowed")
        uses = try row.int("uses")
        expiresAt = try row.string("expires_at")
        revokedAt = row.optionalString("revoked_at")
        createdAt = try row.string("created_at")
    }
}

/// Reads and writes the registration policy and invite codes. Codes arrive hashed: this module
/// never sees a secret.
public struct RegistrationRepository: Sendable {
    private static let inviteColumns = "id, note, uses_allowed, uses, expires_at, revoked_at, created_at"

    public init() {}

    public func policy(in database: Database) throws -> RegistrationPolicy {
        guard let row = try database.queryOne("SELECT mode, screening_test_id, updated_at FROM registration WHERE id = 1") else {
            throw StorageError("the registration policy row is missing; the migrations did not run")
        }
        guard let mode = RegistrationMode(rawValue: try row.string("mode")) else { throw StorageError("the registration mode is unknown") }
        return RegistrationPolicy(mode: mode, screeningTestId: row.optionalInt("screening_test_id"), updatedAt: try row.string("updated_at"))
    }

    /// Sets the policy. Opening registration needs a screening test: an applicant must have
    /// something to take before an admin can judge them.
    public func setPolicy(mode: RegistrationMode, screeningTestID: Int?, updatedBy: Int?, in database: Database) throws -> RegistrationPolicy {
        if let screeningTestID {
            guard try database.queryScalarInt("SELECT count(*) FROM screening_tests WHERE id = ?", [screeningTestID]) == 1 else {
                throw LabelingError("field 'screeningTestId': there is no screening test \(screeningTestID)", kind: .notFound)
            }
        } else if mode != .closed {
            throw LabelingError("field 'screeningTestId' is needed when registration is \(mode.rawValue): applicants must have a test to take")
        }
        try database.execute("""
            UPDATE registration SET mode = ?, screening_test_id = ?, updated_by = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = 1
            """, [mode.rawValue, screeningTestID, updatedBy])
        return try policy(in: database)
    }

    /// Stores a new invite code by its hash; returns it (without the code).
    public func createInvite(codeHash: String, note: String, usesAllowed: Int, validDays: Int, createdBy: Int, in database: Database) throws -> InviteCode {
        guard note.count <= 500 else { throw LabelingError("field 'note' must have at most 500 characters") }
        guard (1...10_000).contains(usesAllowed) else { throw LabelingError("field 'usesAllowed' must be from 1 to 10000, not \(usesAllowed)") }
        guard (1...365).contains(validDays) else { throw LabelingError("field 'validDays' must be from 1 to 365, not \(validDays)") }
        try database.execute("""
            INSERT INTO invite_codes (code_hash, note, uses_allowed, expires_at, created_by)
            VALUES (?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || ? || ' days'), ?)
            """, [codeHash, note, usesAllowed, validDays, createdBy])
        return try database.queryOne("SELECT \(Self.inviteColumns) FROM invite_codes WHERE id = ?", [database.lastInsertRowID]).map(InviteCode.init(row:))!
    }

    public func invites(in database: Database) throws -> [InviteCode] {
        try database.query("SELECT \(Self.inviteColumns) FROM invite_codes ORDER BY id DESC").map(InviteCode.init(row:))
    }

    public func revokeInvite(id: Int, in database: Database) throws {
        try database.execute("UPDATE invite_codes SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ? AND revoked_at IS NULL", [id])
        guard database.changes == 1 else { throw LabelingError("there is no live invite code \(id)", kind: .notFound) }
    }

    /// Uses up one use of the code with this hash; returns its id. Unknown, revoked, expired and
    /// used-up codes are refused alike, so a guesser learns nothing about which codes exist.
    public func redeemInvite(codeHash: String, in database: Database) throws -> Int {
        guard let id = try database.queryScalarInt("""
            UPDATE invite_codes SET uses = uses + 1
            WHERE code_hash = ? AND revoked_at IS NULL AND uses < uses_allowed AND expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            RETURNING id
            """, [codeHash]) else {
            throw LabelingError("field 'inviteCode': the code is unknown, expired or used up", kind: .conflict)
        }
        return id
    }
}
