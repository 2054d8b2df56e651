import HTTP
import Labeling

/// The positive integer `{id}` (or another named parameter) of a request's path.
func pathIdentifier(_ request: Request, _ name: String = "id") throws -> Int {
    guard let text = request.pathParameters[name], let id = Int(text), id > 0 else {
        throw HTTPError.badRequest("The \(name) in the path must be a positive integer.", code: "invalid_id")
    }
    return id
}

/// Refuses a query parameter `allowed` does not hold, or one given twice: a misspelt filter
/// would answer with more than was asked, a repeated one with something else. `what` names the
/// route's purpose in the message ("an export").
func checkQueryNames(_ request: Request, allowed: Set<String>, what: String) throws {
    let names = request.query.map(\.name)
    if let unknown = names.first(where: { !allowed.contains($0) }) {
        throw HTTPError.badRequest("The query parameter '\(unknown)' is not one \(what) takes (\(allowed.sorted().joined(separator: ", "))).", code: "invalid_query")
    }
    if let repeated = Dictionary(grouping: names, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
        throw HTTPError.badRequest("The query parameter '\(repeated)' is given more than once.", code: "invalid_query")
    }
}

/// A labeling rule a request broke is the client's fault: 400, 404 or 409 with the rule's
/// sentence, answered by the server's one error mapping (`Connection`).
extension LabelingError: HTTPErrorConvertible {
    public var httpError: HTTPError {
        switch kind {
        case .invalid: HTTPError(.badRequest, code: "invalid_field", message: description)
        case .notFound: HTTPError.notFound(description)
        case .conflict: HTTPError(.conflict, code: "conflict", message: description)
        }
    }
}
