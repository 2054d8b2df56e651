import CSQLite

/// An error SQLite reported. It keeps the SQL text but never the bound values, which may hold
/// passwords or personal data and would leak into logs.
public struct DatabaseError: Error, CustomStringConvertible, Sendable {
    /// The primary result code (`SQLITE_CONSTRAINT`, `SQLITE_BUSY`, ...).
    public let resultCode: Int32
    /// The extended result code (`SQLITE_CONSTRAINT_UNIQUE`, ...).
    public let extendedResultCode: Int32
    public let message: String
    public let sql: String?

    init(resultCode: Int32, message: String, sql: String? = nil) {
        self.extendedResultCode = resultCode
        self.resultCode = resultCode & 0xff
        self.message = message
        self.sql = sql
    }

    init(connection: OpaquePointer?, resultCode: Int32, sql: String? = nil) {
        let message = connection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(resultCode))
        let extended = connection.map { sqlite3_extended_errcode($0) } ?? resultCode
        self.init(resultCode: extended, message: message, sql: sql)
    }

    public var isConstraintViolation: Bool { resultCode == SQLITE_CONSTRAINT }
    public var isUniqueViolation: Bool {
        // SQLITE_CONSTRAINT_UNIQUE and _PRIMARYKEY are composite macros Swift cannot import.
        extendedResultCode == SQLITE_CONSTRAINT | (8 << 8) || extendedResultCode == SQLITE_CONSTRAINT | (6 << 8)
    }
    public var isBusy: Bool { resultCode == SQLITE_BUSY }

    public var description: String {
        var text = "SQLite error \(extendedResultCode): \(message)"
        if let sql { text += " (in: \(sql))" }
        return text
    }
}

/// A misuse the storage layer reports itself, with what was wrong.
public struct StorageError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
