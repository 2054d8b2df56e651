/// What answers a request. Handlers are synchronous: a route that may block runs its handler on
/// the server's worker queue (over Dispatch's bounded pool), so it may wait on the database; a
/// route declared `mayBlock: false` runs on its connection's event loop and must not wait. A
/// thrown error is answered by `Connection`, the one place where errors become statuses.
public typealias Handler = @Sendable (Request) throws -> Response

/// A function from handler to handler, wrapped around every route: request ids, logging,
/// authentication and CSRF checks are middleware.
public typealias Middleware = @Sendable (@escaping Handler) -> Handler

/// Wraps `handler` in `middleware`, the first element outermost.
public func chain(_ middleware: [Middleware], around handler: @escaping Handler) -> Handler {
    middleware.reversed().reduce(handler) { wrapped, layer in layer(wrapped) }
}
