import Foundation
import Logging

/// The request id a request carries: the client's `X-Request-ID` when it is sane, else a new one.
public enum RequestIDKey: RequestAttributeKey {
    public typealias Value = String
}

/// Middleware every Tally server uses.
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

    /// Logs each request at info: method, path, status, duration and request id.
    public static func accessLog(_ logger: Logger) -> Middleware {
        { next in
            { request in
                let start = DispatchTime.now().uptimeNanoseconds
                @Sendable func log(_ status: Int) {
                    guard logger.logLevel <= .info else { return }
                    let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                    logger.info("\(request.method.rawValue) \(request.path) \(status)", metadata: [
                        "request_id": "\(request[RequestIDKey.self] ?? "-")",
                        "remote": "\(request.remoteAddress)",
                        "duration_ms": "\(String(format: "%.2f", milliseconds))",
                    ])
                }
                do {
                    var response = try next(request)
                    if case .deferred(let start) = response.body {
                        // Logged when the real response arrives, with the whole wait in its duration.
                        response.body = .deferred { respond in
                            start { final in
                                log(final.status.code)
                                respond(final)
                            }
                        }
                    } else {
                        log(response.status.code)
                    }
                    return response
                } catch let error as HTTPError {
                    log(error.status.code)
                    throw error
                } catch {
                    log(500)
                    throw error
                }
            }
        }
    }

    /// Security headers for every response: no framing, no sniffing, and a Content-Security-Policy
    /// that allows only same-origin scripts and styles, so injected markup cannot run.
    public static func securityHeaders(contentSecurityPolicy: String =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'") -> Middleware {
        { next in
            { request in
                var response: Response
                do { response = try next(request) } catch let error as HTTPError { response = error.response }
                for (name, value) in [("Content-Security-Policy", contentSecurityPolicy), ("X-Content-Type-Options", "nosniff"),
                                      ("Referrer-Policy", "same-origin"), ("X-Frame-Options", "DENY")]
                    where !response.headers.contains(name) {
                    response.headers.add(name: name, value: value)
                }
                return response
            }
        }
    }
}
