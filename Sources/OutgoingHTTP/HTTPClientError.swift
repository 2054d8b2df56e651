/// Why a request got no response: the address, the connection, TLS, a timeout or a response
/// that is not HTTP. A response with an error status is not an error here: the caller reads it.
public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        /// The URL cannot be requested (scheme, host); retrying cannot help.
        case invalidURL
        /// The host name does not resolve, or nothing accepts the connection.
        case unreachable
        case timedOut
        /// TLS failed: the handshake or the peer's certificate.
        case tls
        /// What came back is not a well-formed HTTP response (or is larger than allowed).
        case badResponse
        /// The connection broke while the request was sent or the response read.
        case connectionLost
    }

    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) { (self.kind, self.description) = (kind, description) }

    /// Whether the same request may succeed when tried again.
    public var isTransient: Bool { kind != .invalidURL && kind != .tls }
}
