import Cryptography
import Dispatch
import Glibc
import Logging

/// An HTTP/1.1 server over non-blocking POSIX sockets.
///
/// A few event loops (one per core, see `EventLoop`) wait on epoll and serve the connections;
/// the first also accepts, handing new connections out in turn. Handlers that may block run on
/// a Dispatch queue over the system's bounded worker pool, never on a loop.
public final class Server: @unchecked Sendable {
    public let configuration: ServerConfiguration
    private let environment: ConnectionEnvironment
    private let tlsContext: TLSContext?
    private let logger: Logger
    private var loops: [EventLoop] = []
    private var acceptor: Acceptor?
    private let connections = ConnectionRegistry()
    private let stopped = DispatchSemaphore(value: 0)
    private let shutdownStarted = Locked<Bool>(false)
    /// The port actually bound (differs from the configuration's when that asks for port 0).
    public private(set) var port = 0

    /// - Parameters:
    ///   - middleware: wrapped around every route, the first element outermost.
    ///   - tlsContext: when given, every connection speaks HTTPS.
    public init(configuration: ServerConfiguration, router: Router, middleware: [Middleware] = [],
                tlsContext: TLSContext? = nil, logger: Logger) {
        self.configuration = configuration
        self.tlsContext = tlsContext
        self.logger = logger
        let connections = self.connections
        let routerHandler: Handler = { request in try router.respond(to: request) }
        environment = ConnectionEnvironment(
            configuration: configuration, router: router, handler: chain(middleware, around: routerHandler), logger: logger,
            workerQueue: DispatchQueue(label: "tally.http.handlers", attributes: .concurrent, target: .global()),
            onClose: { connection in connections.remove(connection) })
    }

    /// The number of open connections.
    public var connectionCount: Int { connections.count }

    /// Binds, listens and starts the event loops; returns at once.
    public func start() throws {
        // A write to a peer that has gone must fail with EPIPE, not end the process (OpenSSL
        // writes with write(2), where MSG_NOSIGNAL cannot be passed).
        signal(SIGPIPE, SIG_IGN)
        let openFileLimit = Socket.raiseOpenFileLimit()
        if openFileLimit < configuration.maxConnections + 64 {
            logger.info("the open-file limit is below the connection limit", metadata: [
                "open_file_limit": "\(openFileLimit)", "max_connections": "\(configuration.maxConnections)",
            ])
        }
        let listener = try Socket.makeListener(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        port = try Socket.localPort(of: listener)
        let shortest = [configuration.readHeaderTimeout, configuration.readBodyTimeout, configuration.writeTimeout,
                        configuration.idleTimeout, configuration.lingerTimeout].min() ?? 1
        let sweepInterval = max(0.01, min(0.25, shortest / 4))
        for index in 0..<max(1, configuration.eventLoopCount) {
            let loop = try EventLoop(name: "tally-http-\(index)", sweepInterval: sweepInterval)
            loop.start()
            loops.append(loop)
        }
        let acceptor = Acceptor(listener: listener, server: self)
        self.acceptor = acceptor
        let registered = DispatchSemaphore(value: 0)
        var registrationError: (any Error)?
        loops[0].execute { [loops] in
            do { try loops[0].register(listener, handler: acceptor, interest: .read) } catch { registrationError = error }
            registered.signal()
        }
        registered.wait()
        if let registrationError { throw registrationError }
        logger.info("listening", metadata: [
            "address": "\(tlsContext == nil ? "http" : "https")://\(configuration.host):\(port)",
            "event_loops": "\(loops.count)",
        ])
    }

    private var nextLoop = 0

    /// Called by the acceptor on the first loop for each accepted socket.
    fileprivate func adopt(_ descriptor: Int32, remoteAddress: String) {
        if shutdownStarted.load() {
            Glibc.close(descriptor)
            return
        }
        if connections.count >= configuration.maxConnections {
            refuse(descriptor, reason: "connection refused at the limit", limit: configuration.maxConnections)
            return
        }
        // One address may not take every slot: a share of the limit each, except for the
        // trusted proxies, whose connections carry many clients.
        let host = Self.host(of: remoteAddress)
        if connections.count(of: host) >= configuration.maxConnectionsPerClient, !configuration.trustedProxies.contains(host) {
            refuse(descriptor, reason: "connection refused at the per-client limit", limit: configuration.maxConnectionsPerClient)
            return
        }
        let transport: any Transport
        if let tlsContext {
            do {
                transport = TLSTransport(descriptor: descriptor, session: try tlsContext.makeSession(fileDescriptor: descriptor))
            } catch {
                logger.info("TLS session setup failed", metadata: ["error": "\(error)"])
                Glibc.close(descriptor)
                return
            }
        } else {
            transport = PlainTransport(descriptor: descriptor)
        }
        let loop = loops[nextLoop % loops.count]
        nextLoop += 1
        let connection = Connection(id: nextLoop, descriptor: descriptor, remoteAddress: remoteAddress,
                                    transport: transport, loop: loop, environment: environment)
        connections.insert(connection, host: host)
        if loop.isCurrent {
            connection.start()
        } else {
            loop.execute { connection.start() }
        }
    }

    fileprivate func acceptFailed(_ error: SocketError) {
        logger.info("accept failed", metadata: ["error": "\(error)"])
    }

    private static let refusal: [UInt8] = {
        var bytes: [UInt8] = []
        var response = Response.errorBody(status: .serviceUnavailable, code: "too_many_connections",
                                          message: "The server has too many open connections; try again shortly.")
        response.headers["Retry-After"] = "1"
        guard case .bytes(let content) = response.body else { return [] }
        ResponseHead.encode(response, version: .http11, contentLength: content.count, chunked: false, keepAlive: false, into: &bytes)
        bytes.append(contentsOf: content)
        return bytes
    }()

    /// The address of "host:port" or "[v6]:port", without the port or brackets.
    static func host(of remoteAddress: String) -> String {
        guard let colon = remoteAddress.lastIndex(of: ":") else { return remoteAddress }
        let host = remoteAddress[..<colon]
        return host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : String(host)
    }

    /// Past a connection limit: a best-effort 503 without blocking, then close.
    private func refuse(_ descriptor: Int32, reason: String, limit: Int) {
        if tlsContext == nil {
            _ = Self.refusal.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            _ = Glibc.shutdown(descriptor, Int32(SHUT_WR))
        }
        Glibc.close(descriptor)
        logger.info("\(reason)", metadata: ["limit": "\(limit)"])
    }

    /// Graceful shutdown, in the order of Go's `http.Server.Shutdown`: stop accepting, close idle
    /// connections, let active ones finish their current request for up to `gracePeriod`
    /// seconds, then close what is left. Blocks until every connection is closed.
    public func shutdown(gracePeriod: Double? = nil) {
        guard !shutdownStarted.withLock({ started in defer { started = true }; return started }) else {
            stopped.wait()
            stopped.signal()
            return
        }
        guard let firstLoop = loops.first else {
            stopped.signal()
            return
        }
        let listenerClosed = DispatchSemaphore(value: 0)
        firstLoop.execute { [acceptor] in
            acceptor?.close(on: firstLoop)
            listenerClosed.signal()
        }
        listenerClosed.wait()
        environment.shutdownRequested.store(true)
        let open = connections.all
        logger.info("shutting down", metadata: ["open_connections": "\(open.count)"])
        for connection in open { connection.beginShutdown() }
        let deadline = DispatchTime.now() + (gracePeriod ?? configuration.shutdownGracePeriod)
        while connectionCount > 0 && DispatchTime.now() < deadline {
            usleep(5_000)
        }
        let remaining = connections.all
        if !remaining.isEmpty {
            logger.info("closing connections still busy after the grace period", metadata: ["count": "\(remaining.count)"])
            for connection in remaining { connection.forceClose() }
            let hardDeadline = DispatchTime.now() + 2
            while connectionCount > 0 && DispatchTime.now() < hardDeadline { usleep(5_000) }
        }
        for loop in loops { loop.stop() }
        // Every request answered before the shutdown has its line written.
        environment.accessLog?.close()
        logger.info("stopped")
        stopped.signal()
    }

    /// Blocks until `shutdown` has finished.
    public func waitUntilStopped() {
        stopped.wait()
        stopped.signal()
    }
}

/// Accepts connections on the listening socket, on the first event loop.
private final class Acceptor: EventHandler {
    private var listener: Int32
    private unowned let server: Server
    /// While the process is out of descriptors, accepting pauses until this uptime.
    private var pausedUntil: UInt64 = 0

    init(listener: Int32, server: Server) {
        self.listener = listener
        self.server = server
    }

    func handleEvent(readable: Bool, writable: Bool, failed: Bool) {
        guard listener >= 0, DispatchTime.now().uptimeNanoseconds >= pausedUntil else { return }
        while true {
            do {
                guard let (descriptor, remoteAddress) = try Socket.accept(from: listener) else { return }
                server.adopt(descriptor, remoteAddress: remoteAddress)
            } catch let error as SocketError {
                server.acceptFailed(error)
                if error.errorNumber == EMFILE || error.errorNumber == ENFILE {
                    // Out of descriptors: pause rather than spin on a listener that stays readable.
                    pausedUntil = DispatchTime.now().uptimeNanoseconds + 100_000_000
                }
                return
            } catch {
                return
            }
        }
    }

    func checkDeadline(now: UInt64) {}

    func close(on loop: EventLoop) {
        guard listener >= 0 else { return }
        loop.deregister(listener)
        Glibc.close(listener)
        listener = -1
    }
}
