import HTTP
import Labeling

/// The positive integer `{id}` (or another named parameter) of a request's path.
func pathIdentifier(_ request: Request, _ name: String = "id") throws -> Int {
    guard let text = request.pathParameters[name], let id = Int(text), id > 0 else {
        throw HTTPError.badRequest("The \(name) in the path must be a positive integer.", code: "invalid_id")
    }
    return id
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

extension Request {
    /// The client's host without its port ("host:port" or "[v6]:port"): rate limits are per host.
    var remoteHost: String {
        guard let colon = remoteAddress.lastIndex(of: ":") else { return remoteAddress }
        return String(remoteAddress[..<colon])
    }
}
