import Dispatch
import Glibc
import Logging

import Dispatch
import Glibc
import Logging

/// What a connection needs from its server; shared by every connection of one server.
final class ConnectionEnvironment: Sendable {
    let configuration: ServerConfiguration
    let router: Router
    let handler: Handler
    let logger: Logger
    /// Where handlers that may block, and streamed responses, run: off the event loops.
    let workerQueue: DispatchQueue
    /// Set when the server begins a graceful shutdown.
    let shutdownRequested = Locked<Bool>(false)
    /// Called on the connection's loop once its socket is closed.
    let onClose: @Sendable (Connection) -> Void

    init(configuration: ServerConfiguration, router: Router, handler: @escaping Handler, logger: Logger,
         workerQueue: DispatchQueue, onClose: @escaping @Sendable (Connection) -> Void) {
        self.configuration = configuration
        self.router = router
        self.handler = handler
        self.logger = logger
        self.workerQueue = workerQueue
        self.onClose = onClose
    }
}

/// One client connection: reads requests, runs the handler, writes responses, in a loop.
///
/// All state is confined to the thread of `loop`, so no lock is needed; the loop calls it when
/// the socket is ready, so a slow or idle client holds no thread. Handlers whose route may block
/// run on the worker queue while the connection waits in `handling`, and so does the producer of
/// a streamed response. Each state sets one deadline, which the loop checks a few times a second.
final class Connection: EventHandler, @unchecked Sendable {
    private enum State {
        /// Between requests, no bytes of the next one received: the idle timeout runs.
        case idle
        /// Part of a request head received: the header timeout runs.
        case readingHead
        /// The head is in; waiting for content: the body timeout runs.
        case readingBody(RequestHead, BodyProgress)
        /// A handler or a streamed response runs on the worker queue; the loop leaves the socket alone.
        case handling
        /// A response is partly written and the socket is full: the write timeout runs.
        case writing
        /// The last response is out and the sending side shut; discarding input until the peer closes.
        case lingering
        case closed
    }

    private enum BodyProgress {
        case length(Int)
        case chunked(ChunkedBodyDecoder)
    }

    let id: Int
    let remoteAddress: String
    let loop: EventLoop
    private let descriptor: Int32
    private let transport: any Transport
    private let environment: ConnectionEnvironment
    private var configuration: ServerConfiguration { environment.configuration }

    private var state = State.idle
    /// The state to return to once a blocked write drains.
    private var stateBeforeWriting = State.idle
    private var headParser: RequestHeadParser
    private var inbound: [UInt8] = []
    private var inboundStart = 0
    private var outbound: [UInt8] = []
    private var outboundStart = 0
    private var closeAfterWrite = false
    private var peerClosedInput = false
    /// A close asked for while the worker queue owned the connection, done when it hands back.
    private var closeWhenHandled = false
    private var shuttingDown: Bool { environment.shutdownRequested.load() }
    private var interest = Interest.read
    private var registered = false
    /// When the current state's timeout expires, in `DispatchTime` uptime nanoseconds; 0 for never.
    private var deadline: UInt64 = 0

    private static let readChunkBytes = 16 * 1024
    /// Input read in one wake-up at most, so one fast client cannot starve the others.
    private static let maxBytesPerWakeup = 256 * 1024
    /// An idle connection keeps at most this much buffer capacity between requests.
    private static let idleBufferCapacity = 4 * 1024

    init(id: Int, descriptor: Int32, remoteAddress: String, transport: any Transport, loop: EventLoop, environment: ConnectionEnvironment) {
        self.id = id
        self.descriptor = descriptor
        self.remoteAddress = remoteAddress
        self.transport = transport
        self.loop = loop
        self.environment = environment
        self.headParser = RequestHeadParser(limits: environment.configuration.headLimits)
    }

    /// Starts reading; called once, on the loop, right after accept.
    func start() {
        do {
            try loop.register(descriptor, handler: self, interest: .read)
            registered = true
        } catch {
            environment.logger.error("cannot watch a new connection", metadata: ["error": "\(error)"])
            close()
            return
        }
        arm(timeout: configuration.idleTimeout)
    }

    /// Asks the connection to close after its current request; an idle one closes now.
    func beginShutdown() {
        loop.execute { [self] in
            if case .idle = state, inboundStart == inbound.count { close() }
        }
    }

    /// Closes at once, whatever is in flight (the end of a graceful shutdown's grace period).
    func forceClose() {
        loop.execute { [self] in close() }
    }

    // MARK: Events

    func handleEvent(readable: Bool, writable: Bool, failed: Bool) {
        if case .handling = state {
            // Only errors are reported while the worker owns the socket; stop watching it, the
            // worker's next write fails and the connection closes when it hands back.
            if failed { setInterest(.none) }
            return
        }
        if writable, case .writing = state { writableAgain() }
        if readable || failed, interest.readable { readAvailable() }
    }

    func checkDeadline(now: UInt64) {
        guard deadline != 0, deadline <= now else { return }
        timeoutFired()
    }

    private func setInterest(_ newInterest: Interest) {
        guard registered, newInterest != interest else { return }
        interest = newInterest
        loop.change(descriptor, interest: newInterest)
    }

    // MARK: Reading

    private func readAvailable() {
        var received = 0
        withUnsafeTemporaryAllocation(byteCount: Self.readChunkBytes, alignment: 1) { scratch in
            while received < Self.maxBytesPerWakeup {
                switch transport.read(into: scratch) {
                case .transferred(let count):
                    received += count
                    if case .lingering = state { continue }
                    inbound.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<count]))
                case .wouldBlock:
                    return
                case .closed:
                    peerClosedInput = true
                    setInterest(.none)
                    return
                case .failed(let reason):
                    environment.logger.debug("read failed", metadata: ["connection": "\(id)", "reason": "\(reason)"])
                    close()
                    return
                }
            }
        }
        if case .lingering = state {
            if peerClosedInput { close() }
            return
        }
        process()
    }

    private func suspendReading() {
        setInterest(.none)
    }

    private func resumeReading() {
        guard !peerClosedInput else { return }
        setInterest(.read)
    }

    // MARK: The request loop

    /// Parses and answers every complete request in the input buffer (pipelining), then waits.
    private func process() {
        while true {
            let available = inbound.count - inboundStart
            switch state {
            case .closed, .lingering, .writing, .handling:
                return
            case .idle, .readingHead:
                if available == 0 {
                    if peerClosedInput { close() } else { enterIdle() }
                    return
                }
                if case .idle = state {
                    state = .readingHead
                    arm(timeout: configuration.readHeaderTimeout)
                }
                let result: HeadParseResult
                do {
                    result = try inbound.withUnsafeBufferPointer { buffer throws(RequestParsingError) in
                        try headParser.parse(UnsafeBufferPointer(rebasing: buffer[inboundStart...]))
                    }
                } catch {
                    respondAndClose(error.status, code: "bad_request", message: error.message)
                    return
                }
                guard case .complete(let head, let consumed) = result else {
                    if peerClosedInput { close() }
                    return
                }
                inboundStart += consumed
                headParser.reset()
                startBody(of: head)
            case .readingBody(let head, let progress):
                switch progress {
                case .length(let length):
                    guard available >= length else {
                        if peerClosedInput { close() }
                        return
                    }
                    let body = Array(inbound[inboundStart..<(inboundStart + length)])
                    inboundStart += length
                    handle(head, body: body)
                case .chunked(var decoder):
                    do {
                        let consumed = try inbound.withUnsafeBufferPointer { buffer throws(RequestParsingError) in
                            try decoder.decode(UnsafeBufferPointer(rebasing: buffer[inboundStart...]))
                        }
                        inboundStart += consumed
                    } catch {
                        respondAndClose(error.status, code: "bad_request", message: error.message)
                        return
                    }
                    guard decoder.isComplete else {
                        state = .readingBody(head, .chunked(decoder))
                        if peerClosedInput { close() }
                        return
                    }
                    handle(head, body: decoder.body)
                }
            }
        }
    }

    private func startBody(of head: RequestHead) {
        let limit = environment.router.maxBodyBytes(method: head.method, pathSegments: head.pathSegments) ?? configuration.maxBodyBytes
        let available = inbound.count - inboundStart
        switch head.framing {
        case .none:
            handle(head, body: [])
            return
        case .contentLength(let length):
            guard length <= limit else {
                respondAndClose(.contentTooLarge, code: "content_too_large", message: "The content is \(length) bytes; at most \(limit) are allowed here.")
                return
            }
            state = .readingBody(head, .length(length))
            if head.expectsContinue && available < length { sendContinue() }
        case .chunked:
            state = .readingBody(head, .chunked(ChunkedBodyDecoder(maxBodyBytes: limit, maxTrailerBytes: configuration.headLimits.maxHeaderBytes)))
            if head.expectsContinue && available == 0 { sendContinue() }
        }
        arm(timeout: configuration.readBodyTimeout)
    }

    private func sendContinue() {
        outbound.append(contentsOf: "HTTP/1.1 100 Continue\r\n\r\n".utf8)
        flushOutbound()
    }

    private func enterIdle() {
        state = .idle
        if inboundStart > 0 {
            inbound.removeSubrange(..<inboundStart)
            inboundStart = 0
        }
        if inbound.isEmpty && inbound.capacity > Self.idleBufferCapacity { inbound = [] }
        if outbound.capacity > Self.idleBufferCapacity { outbound = [] }
        if shuttingDown {
            close()
            return
        }
        arm(timeout: configuration.idleTimeout)
        resumeReading()
    }

    // MARK: Handling

    private func handle(_ head: RequestHead, body: [UInt8]) {
        var request = head.request(body: body)
        request.remoteAddress = remoteAddress
        request.isSecure = transport.isSecure
        let environment = environment
        // A route that cannot block runs right here on the loop: no thread hop at all.
        guard environment.router.mayBlock(method: head.method, pathSegments: head.pathSegments) else {
            respond(with: Self.run(environment, request), to: head)
            return
        }
        state = .handling
        setInterest(.none)
        let ready = request
        environment.workerQueue.async { [self] in
            let response = Self.run(environment, ready)
            loop.execute { [self] in
                state = .idle
                if closeWhenHandled { close(); return }
                respond(with: response, to: head)
                if case .idle = state { resumeReading(); process() }
            }
        }
    }

    private static func run(_ environment: ConnectionEnvironment, _ request: Request) -> Response {
        do {
            return try environment.handler(request)
        } catch let error as HTTPError {
            return error.response
        } catch {
            environment.logger.error("handler failed", metadata: [
                "method": "\(request.method.rawValue)", "path": "\(request.path)", "error": "\(error)",
            ])
            return Response.errorBody(status: .internalServerError, code: "internal_error",
                                      message: "The server failed to answer this request; the error is in its log.")
        }
    }

    private func respond(with response: Response, to head: RequestHead) {
        let keepAlive = head.keepAlive && !shuttingDown && !peerClosedInput
        let omitContent = head.method == .head || !response.status.allowsContent
        switch response.body {
        case .bytes(let content):
            ResponseHead.encode(response, version: head.version, contentLength: response.status.allowsContent ? content.count : nil,
                                chunked: false, keepAlive: keepAlive, into: &outbound)
            if !omitContent { outbound.append(contentsOf: content) }
            closeAfterWrite = !keepAlive
            state = .idle
            flushOutbound()
        case .deferred(let start):
            // The connection waits, reading nothing, until the completion hands it the response.
            state = .handling
            setInterest(.none)
            deadline = 0
            let wrapperHeaders = response.headers
            start { [self] final in
                loop.execute { [self] in
                    state = .idle
                    if closeWhenHandled { close(); return }
                    // Headers middleware set on the placeholder (request id, security) carry over.
                    var response = final
                    for field in wrapperHeaders where !response.headers.contains(field.name) {
                        response.headers.add(name: field.name, value: field.value)
                    }
                    if case .deferred = response.body {
                        respond(with: Response.errorBody(status: .internalServerError, code: "internal_error",
                                                         message: "A deferred response completed with another deferred response."), to: head)
                    } else {
                        respond(with: response, to: head)
                    }
                    if case .idle = state { resumeReading(); process() }
                }
            }
        case .stream(let produce):
            // HTTP/1.0 has no chunked coding: its stream ends when the connection closes.
            let chunked = head.version == .http11
            let streamKeepAlive = keepAlive && chunked
            ResponseHead.encode(response, version: head.version, contentLength: nil, chunked: chunked && !omitContent,
                                keepAlive: streamKeepAlive, into: &outbound)
            closeAfterWrite = !streamKeepAlive
            // The producer may take long and writes with blocking waits: it runs on the worker
            // queue, which owns the socket until it hands the connection back.
            state = .handling
            setInterest(.none)
            deadline = 0
            let logger = environment.logger
            environment.workerQueue.async { [self] in
                let writer = BlockingBodyWriter(connection: self, chunked: chunked)
                var failure: (any Error)?
                do {
                    try writeOutboundBlocking()
                    if !omitContent {
                        try produce(writer)
                        try writer.finish()
                    }
                } catch {
                    failure = error
                }
                loop.execute { [self] in
                    state = .idle
                    if let failure {
                        // The head is out, so no error status can follow: ending the connection
                        // without the last chunk tells the client the content is incomplete.
                        logger.warning("streamed response ended early", metadata: ["path": "\(head.path)", "error": "\(failure)"])
                        close()
                        return
                    }
                    if closeWhenHandled { close(); return }
                    flushOutbound()
                    if case .idle = state { resumeReading(); process() }
                }
            }
        }
    }

    /// Answers a request that cannot be read with the uniform error body, then closes: after a
    /// framing error, where the next request would start is unknowable.
    private func respondAndClose(_ status: HTTPStatus, code: String, message: String) {
        let response = Response.errorBody(status: status, code: code, message: message)
        ResponseHead.encode(response, version: .http11, contentLength: response.status.allowsContent ? responseLength(response) : nil,
                            chunked: false, keepAlive: false, into: &outbound)
        if case .bytes(let content) = response.body { outbound.append(contentsOf: content) }
        closeAfterWrite = true
        state = .idle
        flushOutbound()
    }

    private func responseLength(_ response: Response) -> Int {
        if case .bytes(let content) = response.body { return content.count }
        return 0
    }

    // MARK: Writing

    /// Writes what it can without blocking; when the socket fills, waits for it to drain.
    private func flushOutbound() {
        while outboundStart < outbound.count {
            let result = outbound.withUnsafeBytes { transport.write(UnsafeRawBufferPointer(rebasing: $0[outboundStart...])) }
            switch result {
            case .transferred(let count):
                outboundStart += count
            case .wouldBlock:
                waitForWritable()
                return
            case .closed, .failed:
                close()
                return
            }
        }
        outbound.removeAll(keepingCapacity: true)
        outboundStart = 0
        if closeAfterWrite { startLingeringClose() }
    }

    private func waitForWritable() {
        switch state {
        case .closed: return
        case .writing: break
        default:
            stateBeforeWriting = state
            state = .writing
        }
        arm(timeout: configuration.writeTimeout)
        setInterest(.write)
    }

    private func writableAgain() {
        guard case .writing = state else { return }
        state = stateBeforeWriting
        setInterest(.none)
        flushOutbound()
        switch state {
        case .writing, .lingering, .closed, .handling:
            return
        case .readingHead:
            arm(timeout: configuration.readHeaderTimeout)
        case .readingBody:
            arm(timeout: configuration.readBodyTimeout)
        case .idle:
            break
        }
        resumeReading()
        // Pipelined requests may already be waiting in the input buffer.
        process()
    }

    /// Writes the whole outbound buffer, blocking with poll(2) when the socket is full. Used only
    /// while streaming, on the worker queue, which owns the connection meanwhile.
    fileprivate func writeOutboundBlocking() throws {
        defer {
            outbound.removeAll(keepingCapacity: true)
            outboundStart = 0
        }
        try writeBlocking(outbound[outboundStart...])
    }

    fileprivate func writeBlocking(_ bytes: ArraySlice<UInt8>) throws {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let result = bytes.withUnsafeBytes { transport.write(UnsafeRawBufferPointer(rebasing: $0[(offset - bytes.startIndex)...])) }
            switch result {
            case .transferred(let count):
                offset += count
            case .wouldBlock(let writable):
                var poller = pollfd(fd: descriptor, events: Int16(writable ? POLLOUT : POLLIN), revents: 0)
                let ready = poll(&poller, 1, Int32(configuration.writeTimeout * 1000))
                if ready == 0 { throw SocketError("write (timed out after \(configuration.writeTimeout) s)", errorNumber: ETIMEDOUT) }
                if ready < 0 && errno != EINTR { throw SocketError("poll") }
            case .closed:
                throw SocketError("write (the client closed the connection)", errorNumber: EPIPE)
            case .failed(let reason):
                throw SocketError("write (\(reason))", errorNumber: EIO)
            }
        }
    }

    // MARK: Closing

    private func startLingeringClose() {
        state = .lingering
        transport.shutdownOutput()
        if peerClosedInput {
            close()
            return
        }
        arm(timeout: configuration.lingerTimeout)
        resumeReading()
    }

    private func timeoutFired() {
        switch state {
        case .readingHead, .readingBody:
            environment.logger.debug("request timed out", metadata: ["connection": "\(id)"])
            respondAndClose(.requestTimeout, code: "request_timeout", message: "The request did not arrive in time.")
        case .idle, .writing, .lingering:
            close()
        case .handling, .closed:
            break
        }
    }

    private func arm(timeout seconds: Double) {
        deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
    }

    /// Stops watching the socket and closes it. While the worker queue owns the connection, the
    /// close waits until it hands back.
    private func close() {
        switch state {
        case .closed: return
        case .handling:
            closeWhenHandled = true
            return
        default: break
        }
        state = .closed
        deadline = 0
        if registered {
            loop.deregister(descriptor)
            registered = false
        }
        Glibc.close(descriptor)
        inbound = []
        outbound = []
        environment.onClose(self)
    }
}

/// Streams a response's content, in chunks under HTTP/1.1. Small writes are gathered into
/// chunks of up to 16 KiB so each costs one system call, not one per `write`.
private final class BlockingBodyWriter: ResponseBodyWriter {
    private unowned let connection: Connection
    private let chunked: Bool
    private var buffer: [UInt8] = []
    private static let chunkBytes = 16 * 1024

    init(connection: Connection, chunked: Bool) {
        self.connection = connection
        self.chunked = chunked
        buffer.reserveCapacity(Self.chunkBytes + 32)
    }

    func write(_ bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= Self.chunkBytes { try flush() }
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        if chunked {
            var framed = Array((String(buffer.count, radix: 16) + "\r\n").utf8)
            framed.append(contentsOf: buffer)
            framed.append(contentsOf: "\r\n".utf8)
            try connection.writeBlocking(framed[...])
        } else {
            try connection.writeBlocking(buffer[...])
        }
        buffer.removeAll(keepingCapacity: true)
    }

    func finish() throws {
        try flush()
        if chunked { try connection.writeBlocking(Array("0\r\n\r\n".utf8)[...]) }
    }
}
