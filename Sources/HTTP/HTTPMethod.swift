/// The request methods Tally's server implements. Any other syntactically valid method is
/// answered with 501 Not Implemented (RFC 9110 section 9.1).
public enum HTTPMethod: String, Hashable, Sendable, CaseIterable {
    case get = "GET"
    case head = "HEAD"
    case post = "POST"
    case put = "PUT"
    case patch = "PATCH"
    case delete = "DELETE"
    case options = "OPTIONS"
}

/// The protocol version of a request; only HTTP/1.0 and HTTP/1.1 are spoken.
public enum HTTPVersion: String, Sendable {
    case http10 = "HTTP/1.0"
    case http11 = "HTTP/1.1"
}
