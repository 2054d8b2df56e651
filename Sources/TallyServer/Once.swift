import Foundation
import HTTP

/// A completion that may be called several times but answers once: a stream's first event or
/// the error that came before it, whichever is first.
final class Once: @unchecked Sendable {
    private let lock = NSLock()
    private var respond: (@Sendable (Result<Response, any Error>) -> Void)?

    init(_ respond: @escaping @Sendable (Result<Response, any Error>) -> Void) { self.respond = respond }

    /// Answers with `result` unless an answer was given; says whether this one was.
    @discardableResult
    func give(_ result: Result<Response, any Error>) -> Bool {
        let pending: (@Sendable (Result<Response, any Error>) -> Void)? = lock.withLock {
            defer { respond = nil }
            return respond
        }
        pending?(result)
        return pending != nil
    }
}
