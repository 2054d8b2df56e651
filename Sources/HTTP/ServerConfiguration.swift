import Foundation

/// Everything that bounds what clients can make the server do. Every limit has a default that
/// is safe for a server on the open internet; tests and benchmarks shorten or lengthen them.
public struct ServerConfiguration: Sendable {
    /// The address to listen on; `127.0.0.1` keeps a fresh install private to its machine.
    public var host = "127.0.0.1"
    /// The TCP port; 0 asks the system for a free one (tests use it).
    public var port = 8080
    /// Pending connections the kernel queues before `accept` (capped by `net.core.somaxconn`).
    public var backlog: Int32 = 4096
    /// Limits on the request line and header fields.
    public var headLimits = RequestHeadLimits()
    /// Largest request content in bytes for routes that set no limit of their own.
    public var maxBodyBytes = 1 << 20
    /// Seconds a client has, from its first byte, to send the whole request head. Past it: 408.
    public var readHeaderTimeout = 10.0
    /// Seconds a client has to send the content once the head is in. Past it: 408.
    public var readBodyTimeout = 30.0
    /// Seconds a response write may stall (the client not reading) before the connection drops.
    public var writeTimeout = 30.0
    /// Seconds a keep-alive connection may sit between requests before it is closed.
    public var idleTimeout = 75.0
    /// Open connections at most; one more is answered 503 and closed.
    public var maxConnections = 16_000
    /// Open connections one client address may hold (an eighth of `maxConnections` by default),
    /// so that one client cannot take every slot; the trusted proxies' addresses are exempt.
    public var maxConnectionsPerClient = 2_000
    /// The reverse proxies whose `X-Forwarded-For` names the client (`Request.clientAddress`):
    /// none by default, so every request's client is its socket's peer.
    public var trustedProxies = TrustedProxies.none
    /// Seconds a graceful shutdown waits for in-flight requests before closing them.
    public var shutdownGracePeriod = 10.0
    /// Event-loop threads; each waits on its own epoll instance and serves its share of the
    /// connections. One per processor core.
    public var eventLoopCount = ProcessInfo.processInfo.activeProcessorCount
    /// Seconds to keep reading (and discarding) after a closing response, so the peer receives
    /// it before a TCP reset can destroy it (RFC 9112 section 9.6).
    public var lingerTimeout = 2.0
    /// Header fields every response carries unless its handler set them, the request parser's
    /// error responses too: by default the security headers, no framing, no sniffing, and a
    /// Content-Security-Policy that allows only same-origin scripts and styles, so injected
    /// markup cannot run.
    public var defaultResponseHeaders: [(name: String, value: String)] = ServerConfiguration.securityHeaders
    /// Whether each request is logged at info (method, path, status, duration and client as
    /// metadata), the access log: buffered and written off the request path (`AccessLog`), when
    /// the server's logger takes info.
    public var logsRequests = true
    /// Where the access log's lines go: standard error, with the rest of the log, unless a test
    /// or an operator names another open descriptor.
    public var accessLogDescriptor: Int32 = 2

    public static let securityHeaders: [(name: String, value: String)] = [
        ("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
        ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"), ("X-Frame-Options", "DENY"),
    ]

    public init() {}
}
