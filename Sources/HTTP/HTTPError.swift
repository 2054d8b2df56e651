import Foundation

/// An error that knows the HTTP answer it deserves. The server asks a thrown error (or the
/// failure a deferred response completes with) for it; every other error is a 500 whose body
/// says nothing of it. An application makes its domain errors answer with the right status by
/// conforming them.
public protocol HTTPErrorConvertible: Error {
    var httpError: HTTPError { get }
}

/// An error a handler throws to answer with a status and the uniform JSON error body
/// `{"error": {"code": "...", "message": "..."}}`.
public struct HTTPError: HTTPErrorConvertible, Sendable, CustomStringConvertible {
    public let status: HTTPStatus
    /// A stable machine-readable code, such as `invalid_json` or `not_found`.
    public let code: String
    /// A sentence for people, naming what was wrong.
    public let message: String
    public var headers: HTTPHeaders

    public init(_ status: HTTPStatus, code: String, message: String, headers: HTTPHeaders = HTTPHeaders()) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" }
    public var httpError: HTTPError { self }

    public static func badRequest(_ message: String, code: String = "bad_request") -> HTTPError {
        HTTPError(.badRequest, code: code, message: message)
    }
    public static func notFound(_ message: String = "Nothing is here.") -> HTTPError {
        HTTPError(.notFound, code: "not_found", message: message)
    }
    public static func unauthorized(_ message: String = "Sign in first.") -> HTTPError {
        HTTPError(.unauthorized, code: "unauthorized", message: message)
    }
    public static func forbidden(_ message: String = "Your role may not do this.") -> HTTPError {
        HTTPError(.forbidden, code: "forbidden", message: message)
    }

    /// The response that carries this error.
    public var response: Response {
        var response = Response.errorBody(status: status, code: code, message: message)
        for field in headers { response.headers[field.name] = field.value }
        return response
    }
}

extension Response {
    /// The uniform error body every error status carries.
    static func errorBody(status: HTTPStatus, code: String, message: String) -> Response {
        struct Body: Encodable { let error: Detail }
        struct Detail: Encodable { let code: String; let message: String }
        let bytes = (try? JSONHelpers.encoder.encode(Body(error: Detail(code: code, message: message)))) ?? []
        return Response(status: status, contentType: "application/json", body: bytes)
    }
}
