/// How the length of a request's content is known (RFC 9112 section 6.3).
public enum BodyFraming: Equatable, Sendable {
    case none
    case contentLength(Int)
    case chunked
}

/// The request line and header fields of a request, parsed and validated, before its content.
public struct RequestHead: Sendable {
    public let method: HTTPMethod
    public let target: String
    public let path: String
    public let pathSegments: [String]
    public let query: [QueryItem]
    public let version: HTTPVersion
    public let headers: HTTPHeaders
    public let framing: BodyFraming
    /// Whether the connection stays open after the response (RFC 9112 section 9.3).
    public let keepAlive: Bool
    /// Whether the client waits for `100 Continue` before sending its content (RFC 9110 10.1.1).
    public let expectsContinue: Bool

    func request(body: [UInt8]) -> Request {
        Request(method: method, target: target, path: path, pathSegments: pathSegments, query: query,
                version: version, headers: headers, body: body)
    }
}
