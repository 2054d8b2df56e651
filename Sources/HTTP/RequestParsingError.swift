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

    static func badRequest(_ message: String) -> RequestParsingError { RequestParsingError(.badRequest, message) }
}
