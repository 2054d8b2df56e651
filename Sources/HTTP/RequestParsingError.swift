/// Why a request could not be read. Each maps to the status the server answers with before it
/// closes the connection: after bad framing, where the next request starts is unknowable.
public struct RequestParsingError: Error, Equatable, Sendable, CustomStringConvertible {
    public let status: HTTPStatus
    public let message: String

    public init(_ status: HTTPStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status.code): \(message)" }

    /// The error code of the JSON answer, named after the status as every other refusal is.
    public var code: String {
        switch status.code {
        case 408: "request_timeout"
        case 413: "content_too_large"
        case 414: "request_line_too_long"
        case 431: "headers_too_large"
        case 501: "not_implemented"
        case 505: "http_version_not_supported"
        default: "bad_request"
        }
    }

    static func badRequest(_ message: String) -> RequestParsingError { RequestParsingError(.badRequest, message) }
}
