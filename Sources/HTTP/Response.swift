import Foundation

/// Writes the content of a streamed response. Each `write` may block until the client has
/// taken earlier bytes, which is what keeps a large export in constant memory.
public protocol ResponseBodyWriter {
    func write(_ bytes: [UInt8]) throws
    /// Sends what is buffered now rather than when the buffer fills (Server-Sent Events need this).
    func flush() throws
}

extension ResponseBodyWriter {
    public func write(_ text: String) throws { try write(Array(text.utf8)) }
}

/// The content of a response: bytes known up front, or a producer that streams them with
/// chunked transfer coding.
public enum ResponseBody: Sendable {
    case bytes([UInt8])
    case stream(@Sendable (any ResponseBodyWriter) throws -> Void)
    /// The answer comes later, from whoever calls the completion (once) with the real response:
    /// no thread waits meanwhile. For work that completes elsewhere, such as a group commit.
    case deferred(@Sendable (@escaping @Sendable (Response) -> Void) -> Void)
}

/// An HTTP response as a handler returns it.
public struct Response: Sendable {
    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: ResponseBody

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders(), body: ResponseBody = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: HTTPStatus = .ok, contentType: String, body: [UInt8]) {
        self.init(status: status, headers: HTTPHeaders([("Content-Type", contentType)]), body: .bytes(body))
    }

    public static func text(_ text: String, status: HTTPStatus = .ok) -> Response {
        Response(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
    }

    /// A streamed response; `produce` runs on the connection's queue after the head is sent.
    public static func stream(contentType: String, status: HTTPStatus = .ok,
                              _ produce: @escaping @Sendable (any ResponseBodyWriter) throws -> Void) -> Response {
        Response(status: status, headers: HTTPHeaders([("Content-Type", contentType)]), body: .stream(produce))
    }

    /// A response given later by calling the completion `start` receives.
    public static func deferred(_ start: @escaping @Sendable (@escaping @Sendable (Response) -> Void) -> Void) -> Response {
        Response(body: .deferred(start))
    }

    /// A Server-Sent Events stream (text/event-stream); caches and proxies are told not to buffer it.
    public static func eventStream(_ produce: @escaping @Sendable (EventStreamWriter) throws -> Void) -> Response {
        var response = Response.stream(contentType: "text/event-stream") { writer in
            try produce(EventStreamWriter(writer: writer))
        }
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Accel-Buffering"] = "no"
        return response
    }
}

/// Writes Server-Sent Events (the WHATWG HTML "server-sent events" format), flushing each one.
public struct EventStreamWriter {
    let writer: any ResponseBodyWriter

    public func send(event: String? = nil, data: String, id: String? = nil) throws {
        var text = ""
        if let id { text += "id: \(id)\n" }
        if let event { text += "event: \(event)\n" }
        // A data field cannot hold a newline: each line of the payload becomes its own field.
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) { text += "data: \(line)\n" }
        text += "\n"
        try writer.write(text)
        try writer.flush()
    }

    /// A comment line, which keeps idle proxies from closing the stream.
    public func sendKeepAlive() throws {
        try writer.write(": keep-alive\n\n")
        try writer.flush()
    }
}
