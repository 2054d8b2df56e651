import Dispatch

/// Routes a request by method and path pattern. Patterns are literal segments and `{name}`
/// parameters, as in `GET /api/prompts/{id}`. A path that matches no pattern gets 404, or the
/// fallback; one that matches under other methods gets 405 with `Allow`.
public struct Router: Sendable {
    private enum PatternSegment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    private struct Route: Sendable {
        let method: HTTPMethod
        let path: String
        let pattern: [PatternSegment]
        let maxBodyBytes: Int?
        let mayBlock: Bool
        let handler: Handler
    }

    private var routes: [Route] = []
    /// Answers GET and HEAD requests no route matches (static files, say). It runs on the
    /// event loop, so it must not block for long.
    public var fallback: Handler?
    /// Where answered requests are counted and timed, by route pattern (`GET /metrics`).
    public var metrics: RequestMetrics?

    public init() {}

    /// Adds a route. `maxBodyBytes` overrides the server's default body limit for this route
    /// (an import may be far larger than a ranking). A handler that may block (on the database,
    /// the disk, a lock) runs on the server's worker queue; one that never blocks
    /// (`mayBlock: false`: a health check, a computation on the request alone) runs on the event
    /// loop itself and saves two thread hops.
    public mutating func add(_ method: HTTPMethod, _ pattern: String, maxBodyBytes: Int? = nil, mayBlock: Bool = true,
                             _ handler: @escaping Handler) {
        let segments = pattern.split(separator: "/").map { segment -> PatternSegment in
            if segment.hasPrefix("{"), segment.hasSuffix("}") { return .parameter(String(segment.dropFirst().dropLast())) }
            return .literal(String(segment))
        }
        precondition(!routes.contains { $0.method == method && $0.pattern == segments }, "route \(method.rawValue) \(pattern) added twice")
        routes.append(Route(method: method, path: pattern, pattern: segments, maxBodyBytes: maxBodyBytes, mayBlock: mayBlock, handler: handler))
    }

    public mutating func get(_ pattern: String, mayBlock: Bool = true, _ handler: @escaping Handler) {
        add(.get, pattern, mayBlock: mayBlock, handler)
    }
    public mutating func post(_ pattern: String, maxBodyBytes: Int? = nil, mayBlock: Bool = true, _ handler: @escaping Handler) {
        add(.post, pattern, maxBodyBytes: maxBodyBytes, mayBlock: mayBlock, handler)
    }
    public mutating func put(_ pattern: String, maxBodyBytes: Int? = nil, _ handler: @escaping Handler) {
        add(.put, pattern, maxBodyBytes: maxBodyBytes, handler)
    }
    public mutating func patch(_ pattern: String, _ handler: @escaping Handler) { add(.patch, pattern, handler) }
    public mutating func delete(_ pattern: String, _ handler: @escaping Handler) { add(.delete, pattern, handler) }

    /// Every route as (method, pattern), in the order added: for documentation checks.
    public var routeList: [(method: HTTPMethod, pattern: String)] { routes.map { ($0.method, $0.path) } }

    /// The body limit of the route a request head will reach, if that route sets one.
    func maxBodyBytes(method: HTTPMethod, pathSegments: [String]) -> Int? {
        routes.first { $0.method == method && Self.match($0.pattern, pathSegments) != nil }?.maxBodyBytes
    }

    /// Whether the route a request head will reach may block. Unknown paths (404, 405) and the
    /// fallback do not.
    func mayBlock(method: HTTPMethod, pathSegments: [String]) -> Bool {
        let lookupMethod = method == .head ? HTTPMethod.get : method
        return routes.first { $0.method == lookupMethod && Self.match($0.pattern, pathSegments) != nil }?.mayBlock ?? false
    }

    /// Finds the route and calls its handler with the path parameters filled in, counting and
    /// timing the answer under the route's pattern when `metrics` is set.
    public func respond(to request: Request) throws -> Response {
        var pattern = "unmatched"
        guard let metrics else { return try dispatch(request, matched: &pattern) }
        let started = DispatchTime.now().uptimeNanoseconds
        let method = request.method.rawValue
        @Sendable func record(_ route: String, _ status: String) {
            metrics.record(method: method, route: route, status: status, seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        }
        do {
            let response = try dispatch(request, matched: &pattern)
            // A response given later is timed when it is given.
            if case .deferred(let start) = response.body {
                var timed = response
                let route = pattern
                timed.body = .deferred { respond in
                    start { result in
                        record(route, Self.status(of: result))
                        respond(result)
                    }
                }
                return timed
            }
            record(pattern, String(response.status.code))
            return response
        } catch {
            record(pattern, Self.status(of: Result<Response, any Error>.failure(error)))
            throw error
        }
    }

    private static func status(of result: Result<Response, any Error>) -> String {
        switch result {
        case .success(let response): return String(response.status.code)
        case .failure(let error as HTTPError): return String(error.status.code)
        case .failure: return "error"
        }
    }

    /// The answer of the route `request` matches; `matched` is set to its pattern (`static` for
    /// the fallback, left as it is when nothing matches).
    private func dispatch(_ request: Request, matched: inout String) throws -> Response {
        var allowed: Set<HTTPMethod> = []
        // HEAD is answered by the GET route; the connection drops the content (RFC 9110 9.3.2).
        let lookupMethod = request.method == .head ? HTTPMethod.get : request.method
        for route in routes {
            guard let parameters = Self.match(route.pattern, request.pathSegments) else { continue }
            if route.method == lookupMethod {
                var request = request
                request.pathParameters = parameters
                matched = route.path
                return try route.handler(request)
            }
            allowed.insert(route.method)
            if route.method == .get { allowed.insert(.head) }
        }
        if let fallback, lookupMethod == .get, allowed.isEmpty {
            matched = "static"
            return try fallback(request)
        }
        if !allowed.isEmpty {
            let allow = HTTPMethod.allCases.filter(allowed.contains).map(\.rawValue).joined(separator: ", ")
            throw HTTPError(.methodNotAllowed, code: "method_not_allowed",
                            message: "\(request.method.rawValue) is not allowed on \(request.path); use \(allow).",
                            headers: HTTPHeaders([("Allow", allow)]))
        }
        throw HTTPError.notFound("No route matches \(request.path).")
    }

    private static func match(_ pattern: [PatternSegment], _ segments: [String]) -> [String: String]? {
        guard pattern.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (patternSegment, segment) in zip(pattern, segments) {
            switch patternSegment {
            case .literal(let literal): if literal != segment { return nil }
            case .parameter(let name): parameters[name] = segment
            }
        }
        return parameters
    }
}
