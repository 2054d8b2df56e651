import CSQLite

/// A prepared statement. It finalizes itself when released; a connection caches statements by
/// SQL text, so preparing the same SQL again costs a dictionary lookup.
public final class Statement {
    let handle: OpaquePointer
    public let sql: String
    private unowned let database: Database
    let columnNames: [String]

    init(database: Database, sql: String) throws {
        var handle: OpaquePointer?
        let code = sqlite3_prepare_v3(database.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &handle, nil)
        guard code == SQLITE_OK, let handle else {
            throw DatabaseError(connection: database.handle, resultCode: code, sql: sql)
        }
        self.handle = handle
        self.sql = sql
        self.database = database
        columnNames = (0..<sqlite3_column_count(handle)).map { String(cString: sqlite3_column_name(handle, $0)) }
    }

    deinit { sqlite3_finalize(handle) }

    func bind(_ arguments: StatementArguments) throws {
        let parameterCount = Int(sqlite3_bind_parameter_count(handle))
        guard parameterCount == arguments.count else {
            throw StorageError("the statement has \(parameterCount) parameters but \(arguments.count) arguments were given (in: \(sql))")
        }
        for (offset, argument) in arguments.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch argument?.databaseValue ?? .null {
            case .null: code = sqlite3_bind_null(handle, index)
            case .integer(let value): code = sqlite3_bind_int64(handle, index, value)
            case .real(let value): code = sqlite3_bind_double(handle, index, value)
            case .text(let value): code = sqlite3_bind_text(handle, index, value, -1, tally_sqlite_transient())
            case .blob(let value):
                code = value.withUnsafeBytes { sqlite3_bind_blob64(handle, index, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), sqlite3_uint64($0.count), tally_sqlite_transient()) }
            }
            guard code == SQLITE_OK else { throw DatabaseError(connection: database.handle, resultCode: code, sql: sql) }
        }
    }

    /// Steps once; true when a row is available.
    func step() throws -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw DatabaseError(connection: database.handle, resultCode: code, sql: sql)
        }
    }

    func currentRow() -> Row {
        var values: [DatabaseValue] = []
        values.reserveCapacity(columnNames.count)
        for column in 0..<Int32(columnNames.count) {
            switch sqlite3_column_type(handle, column) {
            case SQLITE_INTEGER: values.append(.integer(sqlite3_column_int64(handle, column)))
            case SQLITE_FLOAT: values.append(.real(sqlite3_column_double(handle, column)))
            case SQLITE_TEXT:
                let count = Int(sqlite3_column_bytes(handle, column))
                let text = sqlite3_column_text(handle, column).map {
                    String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
                } ?? ""
                values.append(.text(text))
            case SQLITE_BLOB:
                let count = Int(sqlite3_column_bytes(handle, column))
                let bytes = sqlite3_column_blob(handle, column).map {
                    Array(UnsafeRawBufferPointer(start: $0, count: count))
                } ?? []
                values.append(.blob(bytes))
            default: values.append(.null)
            }
        }
        return Row(columnNames: columnNames, values: values)
    }

    /// Makes the statement ready for the next use and drops its bindings.
    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }
}
