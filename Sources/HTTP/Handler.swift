/// What answers a request. Handlers are synchronous: they run on the connection's queue, which
/// Dispatch runs on its bounded worker pool, so a handler may block on the database.
public typealias Handler = @Sendable (Request) throws -> Response

/// A function from handler to handler, wrapped around every route: request ids, logging,
/// authentication and CSRF checks are middleware.
public typealias Middleware = @Sendable (@escaping Handler) -> Handler

/// Wraps `handler` in `middleware`, the first element outermost.
public func chain(_ middleware: [Middleware], around handler: @escaping Handler) -> Handler {
    middleware.reversed().reduce(handler) { wrapped, layer in layer(wrapped) }
}
