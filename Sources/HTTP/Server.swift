import Cryptography
import Dispatch
import Glibc
import Logging

/// An HTTP/1.1 server over non-blocking POSIX sockets driven by Dispatch.
///
/// One read source on the listening socket accepts connections; each connection then runs on
/// its own serial queue (see `Connection`). All those queues target one concurrent queue on
/// Dispatch's non-overcommitting pool, which bounds how many handlers run at once.
public final class Server: @unchecked Sendable {
    public let configuration: ServerConfiguration
    private let environment: ConnectionEnvironment
    private let tlsContext: TLSContext?
    private let logger: Logger
    private let acceptQueue = DispatchQueue(label: "tally.http.accept")
    private var listenerDescriptor: Int32 = -1
    private var acceptSource: DispatchSourceRead?
    private var timeoutSweeper: DispatchSourceTimer?
    private let connections = ConnectionRegistry()
    private let nextConnectionID = Locked<Int>(0)
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
            targetQueue: DispatchQueue(label: "tally.http.handlers", attributes: .concurrent, target: .global()),
            onClose: { connection in connections.remove(connection) })
    }

    /// The number of open connections.
    public var connectionCount: Int { connections.count }

    /// Binds, listens and starts accepting; returns at once.
    public func start() throws {
        // A write to a peer that has gone must fail with EPIPE, not end the process (OpenSSL
        // writes with write(2), where MSG_NOSIGNAL cannot be passed).
        signal(SIGPIPE, SIG_IGN)
        let openFileLimit = Socket.raiseOpenFileLimit()
        if openFileLimit < configuration.maxConnections + 64 {
            logger.warning("the open-file limit is below the connection limit", metadata: [
                "open_file_limit": "\(openFileLimit)", "max_connections": "\(configuration.maxConnections)",
            ])
        }
        listenerDescriptor = try Socket.makeListener(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        port = try Socket.localPort(of: listenerDescriptor)
        let source = DispatchSource.makeReadSource(fileDescriptor: listenerDescriptor, queue: acceptQueue)
        let descriptor = listenerDescriptor
        source.setEventHandler { [unowned self] in acceptPending() }
        source.setCancelHandler { Glibc.close(descriptor) }
        acceptSource = source
        source.activate()
        startTimeoutSweeper()
        logger.info("listening", metadata: [
            "address": "\(tlsContext == nil ? "http" : "https")://\(configuration.host):\(port)",
        ])
    }

    private func acceptPending() {
        while true {
            let accepted: (descriptor: Int32, remoteAddress: String)?
            do {
                accepted = try Socket.accept(from: listenerDescriptor)
            } catch let error as SocketError {
                logger.error("accept failed", metadata: ["error": "\(error)"])
                if error.errorNumber == EMFILE || error.errorNumber == ENFILE {
                    // Out of descriptors: pause accepting briefly rather than spin on the listener.
                    acceptSource?.suspend()
                    acceptQueue.asyncAfter(deadline: .now() + .milliseconds(100)) { [self] in acceptSource?.resume() }
                }
                return
            } catch {
                return
            }
            guard let (descriptor, remoteAddress) = accepted else { return }
            if shutdownStarted.load() {
                Glibc.close(descriptor)
                continue
            }
            if connectionCount >= configuration.maxConnections {
                refuse(descriptor)
                continue
            }
            let transport: any Transport
            if let tlsContext {
                do {
                    transport = TLSTransport(descriptor: descriptor, session: try tlsContext.makeSession(fileDescriptor: descriptor))
                } catch {
                    logger.error("TLS session setup failed", metadata: ["error": "\(error)"])
                    Glibc.close(descriptor)
                    continue
                }
            } else {
                transport = PlainTransport(descriptor: descriptor)
            }
            let id = nextConnectionID.withLock { $0 += 1; return $0 }
            let connection = Connection(id: id, descriptor: descriptor, remoteAddress: remoteAddress,
                                        transport: transport, environment: environment)
            connections.insert(connection)
            connection.start()
        }
    }

    /// Checks every connection's deadline a few times a second and expires those past it. One
    /// timer for the whole server costs far less than re-arming one timer per connection on
    /// every request; timeouts fire up to one sweep interval late, which no client can exploit.
    private func startTimeoutSweeper() {
        let shortest = [configuration.readHeaderTimeout, configuration.readBodyTimeout, configuration.writeTimeout,
                        configuration.idleTimeout, configuration.lingerTimeout].min() ?? 1
        let interval = max(0.01, min(0.25, shortest / 4))
        let sweeper = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "tally.http.timeouts", target: .global()))
        sweeper.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(Int(interval * 250)))
        let connections = connections
        sweeper.setEventHandler {
            let now = DispatchTime.now().uptimeNanoseconds
            for connection in connections.all where connection.isPastDeadline(now) {
                connection.expireIfPastDeadline()
            }
        }
        sweeper.activate()
        timeoutSweeper = sweeper
    }

    private static let refusal: [UInt8] = {
        var bytes: [UInt8] = []
        let response = Response.errorBody(status: .serviceUnavailable, code: "too_many_connections",
                                          message: "The server has too many open connections; try again shortly.")
        var headers = response
        headers.headers["Retry-After"] = "1"
        ResponseHead.encode(headers, version: .http11, contentLength: { if case .bytes(let c) = response.body { return c.count }; return 0 }(),
                            chunked: false, keepAlive: false, into: &bytes)
        if case .bytes(let content) = response.body { bytes.append(contentsOf: content) }
        return bytes
    }()

    /// Past the connection limit: a best-effort 503 without blocking, then close.
    private func refuse(_ descriptor: Int32) {
        if tlsContext == nil {
            _ = Self.refusal.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            _ = Glibc.shutdown(descriptor, Int32(SHUT_WR))
        }
        Glibc.close(descriptor)
        logger.warning("connection refused: limit reached", metadata: ["max_connections": "\(configuration.maxConnections)"])
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
        acceptQueue.sync {
            acceptSource?.cancel()
            acceptSource = nil
        }
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
            logger.warning("closing connections still busy after the grace period", metadata: ["count": "\(remaining.count)"])
            for connection in remaining { connection.forceClose() }
            let hardDeadline = DispatchTime.now() + 2
            while connectionCount > 0 && DispatchTime.now() < hardDeadline { usleep(5_000) }
        }
        timeoutSweeper?.cancel()
        logger.info("stopped")
        stopped.signal()
    }

    /// Blocks until `shutdown` has finished.
    public func waitUntilStopped() {
        stopped.wait()
        stopped.signal()
    }
}
