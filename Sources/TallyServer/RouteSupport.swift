import HTTP
import Labeling

/// The positive integer `{id}` (or another named parameter) of a request's path.
func pathIdentifier(_ request: Request, _ name: String = "id") throws -> Int {
    guard let text = request.pathParameters[name], let id = Int(text), id > 0 else {
        throw HTTPError.badRequest("The \(name) in the path must be a positive integer.", code: "invalid_id")
    }
    return id
}

/// Runs `body`, answering `LabelingError`s with 400, 404 or 409.
func answeringLabelingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as LabelingError {
        switch error.kind {
        case .invalid: throw HTTPError(.badRequest, code: "invalid_field", message: error.description)
        case .notFound: throw HTTPError.notFound(error.description)
        case .conflict: throw HTTPError(.conflict, code: "conflict", message: error.description)
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
