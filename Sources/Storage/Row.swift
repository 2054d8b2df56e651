/// One result row: the values by column index and by column name.
public struct Row: Sendable {
    public let columnNames: [String]
    public let values: [DatabaseValue]

    public subscript(index: Int) -> DatabaseValue { values[index] }

    public subscript(column: String) -> DatabaseValue {
        guard let index = columnNames.firstIndex(of: column) else { return .null }
        return values[index]
    }

    /// The integer in `column`; a missing or non-integer column is a programming error.
    public func int(_ column: String) throws -> Int {
        guard let value = self[column].integer else { throw StorageError("column '\(column)' is not an integer") }
        return Int(value)
    }

    public func string(_ column: String) throws -> String {
        guard let value = self[column].text else { throw StorageError("column '\(column)' is not text") }
        return value
    }

    public func double(_ column: String) throws -> Double {
        guard let value = self[column].real else { throw StorageError("column '\(column)' is not a number") }
        return value
    }

    public func optionalString(_ column: String) -> String? { self[column].text }
    public func optionalInt(_ column: String) -> Int? { self[column].integer.map(Int.init) }
    public func optionalDouble(_ column: String) -> Double? { self[column].real }
}
