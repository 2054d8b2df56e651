import CSQLite
import Foundation

/// How hard SQLite works to make a commit survive a power loss (`PRAGMA synchronous`).
public enum SynchronousLevel: String, Sendable {
    /// The write-ahead log is synced at every commit: once a commit returns, the transaction
    /// survives a crash of the process or the machine. Tally's default, because a labeler's
    /// submitted work must never be lost after the server answered.
    case full = "FULL"
    /// The log is synced only at checkpoints: the database stays consistent, but the last
    /// transactions before a power loss may roll back. Never lost on a process crash alone.
    case normal = "NORMAL"
}

/// One SQLite connection. Not thread-safe: a `DatabasePool` confines each connection to one
/// thread at a time, handing it between threads (hence `Sendable`, checked by the pool's locks).
public final class Database: @unchecked Sendable {
    let handle: OpaquePointer
    public let path: String
    private var statementCache: [String: Statement] = [:]

    /// Opens (creating if needed) the database at `path` with WAL journaling, foreign keys
    /// enforced and a busy timeout.
    /// - Parameter readOnly: opens with `query_only`, so a reader can never write by mistake.
    public init(path: String, readOnly: Bool = false, synchronous: SynchronousLevel = .full, busyTimeoutMilliseconds: Int32 = 5_000) throws {
        var handle: OpaquePointer?
        // NOMUTEX: each connection is used by one thread at a time, so SQLite's own mutex is waste.
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI
        let code = sqlite3_open_v2(path, &handle, flags, nil)
        guard code == SQLITE_OK, let handle else {
            let error = DatabaseError(connection: handle, resultCode: code)
            sqlite3_close_v2(handle)
            throw StorageError("cannot open the database \(path): \(error.message)")
        }
        self.handle = handle
        self.path = path
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
        let inMemory = path == ":memory:" || path.isEmpty
        if !inMemory {
            let mode = try queryScalarText("PRAGMA journal_mode=WAL")
            guard mode?.lowercased() == "wal" else {
                throw StorageError("the database \(path) refused write-ahead logging (journal_mode is \(mode ?? "unknown"))")
            }
        }
        try execute("PRAGMA foreign_keys=ON")
        try execute("PRAGMA synchronous=\(synchronous.rawValue)")
        if readOnly { try execute("PRAGMA query_only=ON") }
    }

    deinit {
        statementCache.removeAll()
        sqlite3_close_v2(handle)
    }

    /// The statement for `sql`, prepared once and reused.
    public func cachedStatement(_ sql: String) throws -> Statement {
        if let statement = statementCache[sql] { return statement }
        let statement = try Statement(database: self, sql: sql)
        statementCache[sql] = statement
        return statement
    }

    /// Runs one statement that returns no rows.
    public func execute(_ sql: String, _ arguments: StatementArguments = []) throws {
        let statement = try cachedStatement(sql)
        defer { statement.reset() }
        try statement.bind(arguments)
        while try statement.step() {}
    }

    /// Runs several statements separated by semicolons, with no arguments (migrations).
    public func executeScript(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        guard code == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_free(message)
            throw DatabaseError(resultCode: sqlite3_extended_errcode(handle), message: text, sql: nil)
        }
    }

    /// Every row of a query.
    public func query(_ sql: String, _ arguments: StatementArguments = []) throws -> [Row] {
        var rows: [Row] = []
        try forEachRow(sql, arguments) { rows.append($0) }
        return rows
    }

    /// The first row of a query, if any.
    public func queryOne(_ sql: String, _ arguments: StatementArguments = []) throws -> Row? {
        let statement = try cachedStatement(sql)
        defer { statement.reset() }
        try statement.bind(arguments)
        return try statement.step() ? statement.currentRow() : nil
    }

    /// Calls `body` with each row as it is read, so large results stream in constant memory.
    public func forEachRow(_ sql: String, _ arguments: StatementArguments = [], _ body: (Row) throws -> Void) throws {
        let statement = try cachedStatement(sql)
        defer { statement.reset() }
        try statement.bind(arguments)
        while try statement.step() { try body(statement.currentRow()) }
    }

    public func queryScalarInt(_ sql: String, _ arguments: StatementArguments = []) throws -> Int? {
        try queryOne(sql, arguments)?[0].integer.map(Int.init)
    }

    public func queryScalarText(_ sql: String, _ arguments: StatementArguments = []) throws -> String? {
        try queryOne(sql, arguments)?[0].text
    }

    /// The row id of the last successful INSERT on this connection.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    /// `immediate` takes the write lock at once, so a writer never fails half-way with SQLITE_BUSY
    /// on lock upgrade.
    public func transaction<T>(immediate: Bool = true, _ body: (Database) throws -> T) throws -> T {
        try execute(immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED")
        do {
            let result = try body(self)
            try execute("COMMIT")
            return result
        } catch {
            if isInTransaction { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Copies this whole database into a new file at `path` with SQLite's online backup API. The
    /// copy is one consistent snapshot even while other connections write. It is written beside
    /// the target first and renamed into place, so a failed backup never leaves a partial file.
    public func backup(to path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw StorageError("the backup target \(path) already exists; choose a new file")
        }
        let partialPath = path + ".partial"
        try? FileManager.default.removeItem(atPath: partialPath)
        var destination: OpaquePointer?
        var code = sqlite3_open_v2(partialPath, &destination, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil)
        guard code == SQLITE_OK, let destination else {
            sqlite3_close_v2(destination)
            throw StorageError("cannot create the backup file \(partialPath): \(String(cString: sqlite3_errstr(code)))")
        }
        defer { sqlite3_close_v2(destination) }
        guard let backup = sqlite3_backup_init(destination, "main", handle, "main") else {
            throw DatabaseError(connection: destination, resultCode: sqlite3_errcode(destination))
        }
        repeat {
            code = sqlite3_backup_step(backup, -1)
            if code == SQLITE_BUSY || code == SQLITE_LOCKED { sqlite3_sleep(10) }
        } while code == SQLITE_OK || code == SQLITE_BUSY || code == SQLITE_LOCKED
        let finish = sqlite3_backup_finish(backup)
        guard code == SQLITE_DONE, finish == SQLITE_OK else {
            try? FileManager.default.removeItem(atPath: partialPath)
            throw DatabaseError(connection: destination, resultCode: code == SQLITE_DONE ? finish : code)
        }
        guard rename(partialPath, path) == 0 else {
            throw StorageError("cannot move the backup into place at \(path): errno \(errno)")
        }
    }

    /// The result of `PRAGMA integrity_check`: ["ok"] for a sound database.
    public func integrityCheck() throws -> [String] {
        try query("PRAGMA integrity_check").compactMap { $0[0].text }
    }
}
