import Foundation

/// Where one migration stands in a database.
public struct MigrationStatus: Sendable, Equatable {
    public enum State: String, Sendable {
        case applied
        case pending
        /// Applied, but its file has changed since: the migrator refuses to run.
        case changed
        /// Recorded in the database but unknown to this build: the database is newer than the code.
        case unknown
    }

    public let version: Int
    public let name: String
    public let state: State
    public let appliedAt: String?
}

/// Applies migrations forward only, each in its own transaction, recording its version and
/// checksum in `schema_migrations`. It refuses to run when an applied migration's file has
/// changed, or when the database holds migrations this build does not know.
public struct Migrator: Sendable {
    public let migrations: [Migration]

    public init(migrations: [Migration]) {
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    private static let createTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at TEXT NOT NULL
        ) STRICT
        """

    /// Every migration's state, known ones in order, then unknown ones.
    public func status(of database: Database) throws -> [MigrationStatus] {
        try database.execute(Self.createTable)
        let applied = try database.query("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
        var appliedByVersion: [Int: Row] = [:]
        for row in applied { appliedByVersion[try row.int("version")] = row }
        var result: [MigrationStatus] = []
        for migration in migrations {
            if let row = appliedByVersion.removeValue(forKey: migration.version) {
                let state: MigrationStatus.State = try row.string("checksum") == migration.checksum ? .applied : .changed
                result.append(MigrationStatus(version: migration.version, name: migration.name, state: state, appliedAt: row.optionalString("applied_at")))
            } else {
                result.append(MigrationStatus(version: migration.version, name: migration.name, state: .pending, appliedAt: nil))
            }
        }
        for (version, row) in appliedByVersion.sorted(by: { $0.key < $1.key }) {
            result.append(MigrationStatus(version: version, name: try row.string("name"), state: .unknown, appliedAt: row.optionalString("applied_at")))
        }
        return result
    }

    /// Applies every pending migration in order; returns those it applied.
    @discardableResult
    public func migrate(_ database: Database) throws -> [Migration] {
        let states = try status(of: database)
        if let changed = states.first(where: { $0.state == .changed }) {
            throw StorageError("migration \(String(format: "%04d", changed.version))_\(changed.name).sql has changed since it was applied; migrations are forward only: add a new migration instead of editing an applied one")
        }
        if let unknown = states.first(where: { $0.state == .unknown }) {
            throw StorageError("the database has migration \(unknown.version) (\(unknown.name)) that this build does not know: it was written by a newer Tally")
        }
        let pendingVersions = Set(states.filter { $0.state == .pending }.map(\.version))
        var applied: [Migration] = []
        for migration in migrations where pendingVersions.contains(migration.version) {
            // SQLite's documented way to rebuild a table others reference: foreign keys off
            // around the transaction (the pragma does nothing inside one), every reference
            // checked before the commit, and on again after.
            let foreignKeysOff = migration.rebuildsReferencedTables
            if foreignKeysOff { try database.execute("PRAGMA foreign_keys=OFF") }
            defer { if foreignKeysOff { try? database.execute("PRAGMA foreign_keys=ON") } }
            do {
                try database.transaction(immediate: true) { database in
                    try database.executeScript(migration.sql)
                    if foreignKeysOff, let broken = try database.queryOne("PRAGMA foreign_key_check") {
                        throw StorageError("it leaves a row of \(try broken.string("table")) referring to a missing row of \(try broken.string("parent"))")
                    }
                    try database.execute(
                        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                        [migration.version, migration.name, migration.checksum])
                }
            } catch {
                throw StorageError("migration \(String(format: "%04d", migration.version))_\(migration.name).sql failed and was rolled back: \(error)")
            }
            applied.append(migration)
        }
        return applied
    }
}
