/// The request methods Tally's server knows: every method RFC 9110 defines, and QUERY (the
/// IETF's safe method with a body, which API clients and fuzzers have begun to send). A route
/// answers a known method it does not serve (no route serves TRACE, CONNECT or QUERY) with 405
/// and its `Allow` list; any other syntactically valid method is answered with 501 Not
/// Implemented (RFC 9110 section 9.1).
public enum HTTPMethod: String, Hashable, Sendable, CaseIterable {
    case get = "GET"
    case head = "HEAD"
    case post = "POST"
    case put = "PUT"
    case patch = "PATCH"
    case delete = "DELETE"
    case options = "OPTIONS"
    case trace = "TRACE"
    case connect = "CONNECT"
    case query = "QUERY"
}

/// The protocol version of a request; only HTTP/1.0 and HTTP/1.1 are spoken.
public enum HTTPVersion: String, Sendable {
    case http10 = "HTTP/1.0"
    case http11 = "HTTP/1.1"
}
