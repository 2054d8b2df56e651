/// The content of a response: bytes known up front, pieces made as the client takes them, or a
/// response that comes later.
public enum ResponseBody: Sendable {
    case bytes([UInt8])
    /// Streamed with chunked transfer coding, one piece at a time (see `ResponseBodySource`).
    case stream(any ResponseBodySource)
    /// The answer comes later, from whoever calls the completion (once) with the real response
    /// or the error it failed with: no thread waits meanwhile. For work that completes
    /// elsewhere, such as a group commit. An error is answered as a thrown one would be.
    case deferred(@Sendable (@escaping @Sendable (Result<Response, any Error>) -> Void) -> Void)
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

    /// A streamed response whose pieces `source` makes as the client takes them.
    public static func stream(contentType: String, status: HTTPStatus = .ok, _ source: any ResponseBodySource) -> Response {
        Response(status: status, headers: HTTPHeaders([("Content-Type", contentType)]), body: .stream(source))
    }

    /// A streamed response of the pieces of `sequence`, made lazily: a lazy sequence is
    /// evaluated only as fast as the client reads.
    public static func stream<Pieces: Sequence & Sendable>(contentType: String, status: HTTPStatus = .ok, pieces: Pieces) -> Response
        where Pieces.Element == [UInt8] {
        stream(contentType: contentType, status: status, SequenceBodySource(pieces))
    }

    /// A response given later by calling the completion `start` receives.
    public static func deferred(_ start: @escaping @Sendable (@escaping @Sendable (Result<Response, any Error>) -> Void) -> Void) -> Response {
        Response(body: .deferred(start))
    }

    /// A Server-Sent Events stream (text/event-stream) of what is sent to `events`; caches and
    /// proxies are told not to buffer it.
    public static func eventStream(_ events: EventStream) -> Response {
        var response = Response.stream(contentType: "text/event-stream", events)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Accel-Buffering"] = "no"
        return response
    }
}
