import Foundation
import Logging

/// The request id a request carries: the client's `X-Request-ID` when it is sane, else a new one.
public enum RequestIDKey: RequestAttributeKey {
    public typealias Value = String
}

/// Middleware every Tally server uses. (The access log and the security headers are the
/// connection's, through `ServerConfiguration`: they cover errors and the parser's answers too.)
public enum StandardMiddleware {
    private static let counter = Locked<UInt64>(0)
    /// Ids are a per-process random prefix and a counter: unique, and cheap to make per request.
    private static let processPrefix = String(UInt32.random(in: 0...UInt32.max), radix: 36)

    /// Gives each request an id, echoed in the `X-Request-ID` response header.
    public static func requestID() -> Middleware {
        { next in
            { request in
                var request = request
                let incoming = request.headers["X-Request-ID"]
                let id: String
                if let incoming, incoming.utf8.count <= 64,
                   incoming.utf8.allSatisfy({ $0.isTokenCharacter }) {
                    id = incoming
                } else {
                    let sequence = counter.withLock { $0 += 1; return $0 }
                    id = "\(processPrefix)-\(String(sequence, radix: 36))"
                }
                request[RequestIDKey.self] = id
                var response = try next(request)
                response.headers["X-Request-ID"] = id
                return response
            }
        }
    }
}
