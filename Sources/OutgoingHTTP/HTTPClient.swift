import Cryptography
import Foundation

/// A small HTTP/1.1 client for the calls Tally makes to other servers (an OpenAI-compatible
/// endpoint's answers): one request per connection (`Connection: close`), http or https, a
/// deadline over the whole exchange, and a bound on the response's size. It blocks its
/// caller, which is a worker thread, never the event loop.
public struct HTTPClient: Sendable {
    /// Seconds from connecting to the response's last byte.
    public var timeoutSeconds: Double
    /// The largest response body accepted.
    public var maximumResponseBytes: Int
    private let tls: TLSClientContext

    public init(timeoutSeconds: Double = 120, maximumResponseBytes: Int = 16 << 20, tls: TLSClientContext) {
        (self.timeoutSeconds, self.maximumResponseBytes, self.tls) = (timeoutSeconds, maximumResponseBytes, tls)
    }

    /// Where a request goes, read from an absolute http or https URL.
    public struct Target: Sendable, Equatable {
        public let isSecure: Bool
        public let host: String
        public let port: Int
        /// The path and query, starting with "/".
        public let path: String

        public init(_ url: String) throws(HTTPClientError) {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme) else {
                throw HTTPClientError(.invalidURL, "'\(url)' is not an http or https URL")
            }
            guard let host = components.host, !host.isEmpty else { throw HTTPClientError(.invalidURL, "'\(url)' names no host") }
            guard components.user == nil, components.password == nil else {
                throw HTTPClientError(.invalidURL, "'\(url)' carries a user name or password; give the API key apart")
            }
            isSecure = scheme == "https"
            // URLComponents keeps the brackets of an IPv6 literal.
            self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
            port = components.port ?? (isSecure ? 443 : 80)
            guard (1...65535).contains(port) else { throw HTTPClientError(.invalidURL, "'\(url)' has port \(port), outside 1 to 65535") }
            let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
            self.path = path + (components.percentEncodedQuery.map { "?\($0)" } ?? "")
        }

        var hostHeader: String {
            let name = host.contains(":") ? "[\(host)]" : host
            return port == (isSecure ? 443 : 80) ? name : "\(name):\(port)"
        }
    }

    public func send(_ method: String, _ url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []) throws(HTTPClientError) -> HTTPClientResponse {
        let connection = try open(method, url, headers: headers, body: body)
        do { return try receive(from: connection, method: method, onBody: nil) } catch let error as HTTPClientError { throw error } catch {
            throw HTTPClientError(.badResponse, "\(error)")
        }
    }

    /// Sends a request whose successful (2xx) body is read as it arrives: each piece (its
    /// chunked coding removed) goes to `onBody` at once, for a stream such as server-sent
    /// events; the response returned then has an empty body. Any other status's body is read
    /// whole, as `send` reads it. An error `onBody` throws ends the exchange and is rethrown.
    public func stream(_ method: String, _ url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
                       onBody: @escaping ([UInt8]) throws -> Void) throws -> HTTPClientResponse {
        try receive(from: try open(method, url, headers: headers, body: body), method: method, onBody: onBody)
    }

    private func open(_ method: String, _ url: String, headers: [(name: String, value: String)], body: [UInt8]) throws(HTTPClientError) -> ClientConnection {
        let target = try Target(url)
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        let connection = try ClientConnection(host: target.host, port: target.port, tls: target.isSecure ? tls : nil, deadline: deadline)
        var head = "\(method) \(target.path) HTTP/1.1\r\nHost: \(target.hostHeader)\r\nConnection: close\r\nUser-Agent: Tally\r\n"
        for (name, value) in headers {
            // A line break in a value would start a header (or a request) of its own.
            guard !name.contains(where: \.isNewline), !value.contains(where: \.isNewline) else {
                throw HTTPClientError(.invalidURL, "the header \(name.prefix(40)) contains a line break")
            }
            head += "\(name): \(value)\r\n"
        }
        if !body.isEmpty || method == "POST" || method == "PUT" { head += "Content-Length: \(body.count)\r\n" }
        try connection.write(Array((head + "\r\n").utf8) + body)
        return connection
    }

    private func receive(from connection: ClientConnection, method: String, onBody: (([UInt8]) throws -> Void)?) throws -> HTTPClientResponse {
        var bytes: [UInt8] = []
        var head: HTTPResponseReader.Head?
        // Of a streamed body: the raw bytes taken so far and the chunked decoder's place.
        var delivered = 0
        var chunks = HTTPResponseReader.ChunkedStream()
        while true {
            let more = try connection.read(into: &bytes)
            if head == nil {
                head = try HTTPResponseReader.head(in: bytes)
                // An interim response (100 Continue) comes before the real one.
                if let interim = head, (100...199).contains(interim.status) {
                    bytes.removeFirst(interim.bodyStart)
                    head = nil
                    continue
                }
            }
            guard let head else {
                if !more { throw HTTPClientError(.badResponse, "the connection closed before a whole response head arrived") }
                continue
            }
            let body = bytes[head.bodyStart...]
            guard body.count <= maximumResponseBytes + 64 * 1024 else {
                throw HTTPClientError(.badResponse, "the response is larger than \(maximumResponseBytes) bytes")
            }
            let response = { (body: [UInt8]) in HTTPClientResponse(status: head.status, headers: head.headers, body: body) }
            if method == "HEAD" || head.status == 204 || head.status == 304 { return response([]) }
            let fields = HTTPClientResponse(status: head.status, headers: head.headers, body: [])
            let chunked = fields.header("Transfer-Encoding")?.lowercased().contains("chunked") == true
            if let onBody, (200...299).contains(head.status) {
                if chunked {
                    let (data, done) = try chunks.take(body)
                    if !data.isEmpty { try onBody(data) }
                    if done { return response([]) }
                    if !more { throw HTTPClientError(.connectionLost, "the connection closed in the middle of a chunked response") }
                } else {
                    let length = fields.header("Content-Length").flatMap(Int.init)
                    let available = length.map { min($0, body.count) } ?? body.count
                    if available > delivered { try onBody(Array(body[(body.startIndex + delivered)..<(body.startIndex + available)])) }
                    delivered = available
                    if let length, delivered >= length { return response([]) }
                    if !more {
                        if let length { throw HTTPClientError(.connectionLost, "the connection closed after \(delivered) of the response's \(length) bytes") }
                        return response([])
                    }
                }
                continue
            }
            if chunked {
                if let whole = try HTTPResponseReader.dechunk(body) { return response(whole) }
                if !more { throw HTTPClientError(.connectionLost, "the connection closed in the middle of a chunked response") }
            } else if let lengthText = fields.header("Content-Length") {
                guard let length = Int(lengthText), length >= 0 else { throw HTTPClientError(.badResponse, "the response's Content-Length is \(lengthText)") }
                guard length <= maximumResponseBytes else { throw HTTPClientError(.badResponse, "the response is larger than \(maximumResponseBytes) bytes") }
                if body.count >= length { return response(Array(body.prefix(length))) }
                if !more { throw HTTPClientError(.connectionLost, "the connection closed after \(body.count) of the response's \(length) bytes") }
            } else if !more {
                return response(Array(body))
            }
        }
    }
}
