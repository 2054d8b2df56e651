/// Why a training file could not be used, located by file, line and field.
public struct TrainingDataError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    /// From 1; 0 when the problem is the file as a whole.
    public let line: Int
    /// The member at fault (`messages[2].role`), empty when the line as a whole is.
    public let field: String
    public let message: String

    public init(file: String, line: Int, field: String = "", _ message: String) {
        (self.file, self.line, self.field, self.message) = (file, line, field, message)
    }

    public var description: String {
        let place = line > 0 ? "\(file):\(line)" : file
        return field.isEmpty ? "\(place): \(message)" : "\(place): \(field): \(message)"
    }
}
