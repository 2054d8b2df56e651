import JSON
import Storage

/// The JSON-array columns (flags, shown orders), written and decoded in one place. A stored
/// value that is not what the schema promises is an error that names the column, never an
/// empty list that would quietly drop a labeler's flags from every export.
enum JSONColumns {
    static func encode(_ strings: [String]) -> String { JSONWriter.string(.array(strings.map { .string($0) })) }
    static func encode(_ integers: [Int]) -> String { JSONWriter.string(.array(integers.map { .integer(Int64($0)) })) }

    static func strings(_ row: Row, _ column: String) throws -> [String] {
        try decode(try row.string(column), column: column) { value in
            if case .string(let string) = value { return string }
            return nil
        }
    }

    static func integers(_ row: Row, _ column: String) throws -> [Int] {
        try integers(try row.string(column), column: column)
    }

    static func integers(_ text: String, column: String) throws -> [Int] {
        try decode(text, column: column) { value in
            if case .integer(let integer) = value { return Int(integer) }
            return nil
        }
    }

    private static func decode<Element>(_ text: String, column: String, _ element: (JSONValue) -> Element?) throws -> [Element] {
        guard case .array(let values)? = try? JSONParser.parse(Array(text.utf8)) else {
            throw StorageError("the column '\(column)' holds \(text.prefix(40)), not a JSON array")
        }
        return try values.map { value in
            guard let decoded = element(value) else { throw StorageError("the column '\(column)' holds \(text.prefix(40)), an array of another type") }
            return decoded
        }
    }
}
