/// One name-value pair of a query string, percent-decoded, with `+` read as a space.
public struct QueryItem: Sendable, Equatable {
    public let name: String
    public let value: String
}

/// A key for a value that middleware attaches to a request (the signed-in user, say).
public protocol RequestAttributeKey {
    associatedtype Value: Sendable
}

/// A complete HTTP request: head, decoded target and the whole body.
public struct Request: Sendable {
    public let method: HTTPMethod
    /// The request target as it arrived, before percent-decoding.
    public let target: String
    /// The percent-decoded path; `%2F` decodes to `/` here but not in `pathSegments`.
    public let path: String
    /// The path split at `/` first, then each segment percent-decoded.
    public let pathSegments: [String]
    public let query: [QueryItem]
    public let version: HTTPVersion
    public let headers: HTTPHeaders
    public var body: [UInt8]
    /// Values of the `{name}` parameters of the matched route pattern.
    public var pathParameters: [String: String] = [:]
    /// The peer's address as `host:port`.
    public var remoteAddress: String = ""
    /// The client's address without a port: the peer's, or, when the peer is a trusted proxy
    /// (`ServerConfiguration.trustedProxies`), the address its `X-Forwarded-For` names.
    public var clientAddress: String = ""
    /// Whether the request arrived over TLS.
    public var isSecure = false
    /// When the whole request was in, in `DispatchTime` uptime nanoseconds: how long it then
    /// waited for a handler thread is what readiness checks report.
    public var receivedAt: UInt64 = 0
    private var attributes: [ObjectIdentifier: any Sendable] = [:]

    public init(method: HTTPMethod, target: String, path: String, pathSegments: [String], query: [QueryItem],
                version: HTTPVersion, headers: HTTPHeaders, body: [UInt8]) {
        self.method = method
        self.target = target
        self.path = path
        self.pathSegments = pathSegments
        self.query = query
        self.version = version
        self.headers = headers
        self.body = body
    }

    /// The first value of the query parameter `name`.
    public func queryValue(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }

    public subscript<Key: RequestAttributeKey>(_ key: Key.Type) -> Key.Value? {
        get { attributes[ObjectIdentifier(key)] as? Key.Value }
        set { attributes[ObjectIdentifier(key)] = newValue }
    }

    /// The cookies of the `Cookie` header fields (RFC 6265 section 5.4).
    public var cookies: [String: String] {
        var result: [String: String] = [:]
        for header in headers.values(for: "Cookie") {
            for pair in header.split(separator: ";") {
                guard let equals = pair.firstIndex(of: "=") else { continue }
                let name = pair[..<equals].trimmingWhitespace()
                let value = pair[pair.index(after: equals)...].trimmingWhitespace()
                if result[name] == nil { result[name] = value }
            }
        }
        return result
    }
}
