/// One problem found in an import file, located by line and field.
public struct ImportProblem: Sendable, Equatable, Codable, CustomStringConvertible {
    public let file: String
    public let line: Int
    /// The field at fault, as a path (`candidates[1].text`); empty for the line as a whole.
    public let field: String
    public let message: String

    public var description: String { "\(file), line \(line)\(field.isEmpty ? "" : ", field '\(field)'"): \(message)" }
}

/// An import that was refused; nothing of it was stored.
public struct ImportRejected: Error, Sendable, CustomStringConvertible {
    public let problems: [ImportProblem]
    /// Whether more problems were found than `problems` lists.
    public let truncated: Bool

    public var description: String {
        problems.map(\.description).joined(separator: "\n") + (truncated ? "\n(and more)" : "")
    }
}

/// Collects an import's problems, keeping the first `maximum` and noting whether there were more.
struct ProblemList {
    let fileName: String
    var maximum = 50
    private(set) var problems: [ImportProblem] = []
    private(set) var truncated = false

    init(fileName: String) { self.fileName = fileName }

    var isEmpty: Bool { problems.isEmpty }
    var rejection: ImportRejected { ImportRejected(problems: problems, truncated: truncated) }

    mutating func report(_ line: Int, _ field: String, _ message: String) {
        if problems.count < maximum { problems.append(ImportProblem(file: fileName, line: line, field: field, message: message)) } else { truncated = true }
    }
}
