import Dispatch
import Glibc
import Logging

/// What a connection needs from its server; shared by every connection of one server.
final class ConnectionEnvironment: Sendable {
    let configuration: ServerConfiguration
    let router: Router
    let handler: Handler
    let logger: Logger
    /// The access log, when requests are logged.
    let accessLog: AccessLog?
    /// Where handlers that may block, and the sources of streamed responses, run: off the event loops.
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
        self.accessLog = configuration.logsRequests && logger.logLevel <= .info
            ? AccessLog(descriptor: configuration.accessLogDescriptor, label: logger.label) : nil
        self.workerQueue = workerQueue
        self.onClose = onClose
    }
}

/// One client connection: reads requests, runs the handler, writes responses, in a loop.
///
/// All state is confined to the thread of `loop`, so no lock is needed; the loop calls it when
/// the socket is ready, so a slow or idle client holds no thread. Handlers whose route may block
/// run on the worker queue while the connection waits in `handling`. A streamed response is
/// written by the loop, piece by piece: the next piece is made (on the worker queue) only once
/// the last one is in the socket, so a stalled reader costs one piece of memory and no thread.
/// Each state sets one deadline, which the loop checks a few times a second.
final class Connection: EventHandler, @unchecked Sendable {
    private enum State {
        /// Between requests, no bytes of the next one received: the idle timeout runs.
        case idle
        /// Part of a request head received: the header timeout runs.
        case readingHead
        /// The head is in; waiting for content: the body timeout runs.
        case readingBody(RequestHead, BodyProgress)
        /// A handler runs on the worker queue, or a deferred response is awaited; the loop leaves
        /// the socket alone.
        case handling
        /// A streamed response is being written: the loop writes each piece as the socket takes
        /// it and asks the source for the next one only then.
        case streaming(StreamingResponse)
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
    /// The peer's address without its port.
    private let clientHost: String
    let loop: EventLoop
    private let descriptor: Int32
    private let transport: any Transport
    private let environment: ConnectionEnvironment
    private var configuration: ServerConfiguration { environment.configuration }

    private var state = State.idle
    /// The state to return to once a blocked write drains.
    private var stateBeforeWriting = State.idle
    /// When the current request's head and body were in, in uptime nanoseconds (the access log's duration).
    private var requestReceivedAt: UInt64 = 0
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
        self.clientHost = Server.host(of: remoteAddress)
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
            environment.logger.info("cannot watch a new connection", metadata: ["error": "\(error)"])
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
        if case .streaming = state {
            // Between pieces the socket is not watched for input; a hang-up ends the stream.
            if failed { close() }
            return
        }
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
            case .closed, .lingering, .writing, .handling, .streaming:
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
                    respondAndClose(error.status, code: error.code, message: error.message)
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
                        respondAndClose(error.status, code: error.code, message: error.message)
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
        // Several X-Forwarded-For fields read as one list, as RFC 9110 combines repeated fields.
        let forwardedFor = head.headers.values(for: "X-Forwarded-For")
        request.clientAddress = configuration.trustedProxies.client(peer: clientHost, forwardedFor: forwardedFor.isEmpty ? nil : forwardedFor.joined(separator: ","))
        request.isSecure = transport.isSecure
        request.receivedAt = DispatchTime.now().uptimeNanoseconds
        requestReceivedAt = request.receivedAt
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
        } catch {
            return response(for: error, method: request.method, path: request.path, environment: environment)
        }
    }

    /// The one place where an error becomes a response. An error that knows its answer
    /// (`HTTPErrorConvertible`: `HTTPError`, and the domain errors the application maps) gets it;
    /// any other is a 500 whose body says nothing of the error, which can carry SQL or paths:
    /// the log has it.
    static func response(for error: any Error, method: HTTPMethod, path: String, environment: ConnectionEnvironment) -> Response {
        if let known = error as? any HTTPErrorConvertible { return known.httpError.response }
        environment.logger.info("handler failed", metadata: ["method": "\(method.rawValue)", "path": "\(path)", "error": "\(error)"])
        return Response.errorBody(status: .internalServerError, code: "internal_error",
                                  message: "The server failed to answer this request; the error is in its log.")
    }

    private func respond(with response: Response, to head: RequestHead) {
        var response = response
        for field in configuration.defaultResponseHeaders where !response.headers.contains(field.name) {
            response.headers.add(name: field.name, value: field.value)
        }
        let keepAlive = head.keepAlive && !shuttingDown && !peerClosedInput
        let omitContent = head.method == .head || !response.status.allowsContent
        switch response.body {
        case .bytes(let content):
            logRequest(head, status: response.status)
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
            let environment = environment
            start { [self] result in
                var final: Response
                switch result {
                case .success(let response): final = response
                case .failure(let error): final = Self.response(for: error, method: head.method, path: head.path, environment: environment)
                }
                // Headers middleware set on the placeholder (request id) carry over.
                for field in wrapperHeaders where !final.headers.contains(field.name) {
                    final.headers.add(name: field.name, value: field.value)
                }
                if case .deferred = final.body {
                    final = Response.errorBody(status: .internalServerError, code: "internal_error",
                                               message: "The server failed to answer this request; the error is in its log.")
                    environment.logger.info("a deferred response completed with another deferred response", metadata: ["path": "\(head.path)"])
                }
                let answer = final
                loop.execute { [self] in
                    state = .idle
                    if closeWhenHandled { close(); return }
                    respond(with: answer, to: head)
                    if case .idle = state { resumeReading(); process() }
                }
            }
        case .stream(let source):
            logRequest(head, status: response.status)
            // HTTP/1.0 has no chunked coding: its stream ends when the connection closes.
            let chunked = head.version == .http11
            ResponseHead.encode(response, version: head.version, contentLength: nil, chunked: chunked && !omitContent,
                                keepAlive: keepAlive && chunked, into: &outbound)
            if omitContent {
                closeAfterWrite = !keepAlive
                state = .idle
                flushOutbound()
                return
            }
            // The loop writes the pieces as the socket takes them; between pieces the source is
            // paused and holds no thread.
            state = .streaming(StreamingResponse(source: source, chunked: chunked, keepAlive: keepAlive && chunked, path: head.path))
            deadline = 0
            setInterest(.none)
            flushOutbound()
        }
    }

    /// One line per request in the access log, with a constant message and the details as metadata.
    private func logRequest(_ head: RequestHead, status: HTTPStatus) {
        guard let accessLog = environment.accessLog else { return }
        let milliseconds = Double(DispatchTime.now().uptimeNanoseconds &- requestReceivedAt) / 1e6
        accessLog.record(method: head.method.rawValue, path: head.path, status: status.code, remote: remoteAddress, milliseconds: milliseconds)
    }

    /// Answers a request that cannot be read with the uniform error body, then closes: after a
    /// framing error, where the next request would start is unknowable.
    private func respondAndClose(_ status: HTTPStatus, code: String, message: String) {
        var response = Response.errorBody(status: status, code: code, message: message)
        for field in configuration.defaultResponseHeaders where !response.headers.contains(field.name) {
            response.headers.add(name: field.name, value: field.value)
        }
        let content: [UInt8]
        if case .bytes(let bytes) = response.body { content = bytes } else { content = [] }
        ResponseHead.encode(response, version: .http11, contentLength: response.status.allowsContent ? content.count : nil,
                            chunked: false, keepAlive: false, into: &outbound)
        outbound.append(contentsOf: content)
        closeAfterWrite = true
        state = .idle
        flushOutbound()
    }

    // MARK: Streaming

    /// Asks the source for its next piece on the worker queue; the piece comes back to the loop.
    private func requestNextPiece(_ stream: StreamingResponse) {
        let environment = environment
        environment.workerQueue.async { [self] in
            stream.source.nextPiece { [self] result in
                loop.execute { [self] in received(result, for: stream) }
            }
        }
    }

    private func received(_ result: Result<[UInt8]?, any Error>, for stream: StreamingResponse) {
        // The connection may have closed (and cancelled the source) while the piece was made.
        guard case .streaming(let current) = state, current === stream else { return }
        switch result {
        case .failure(let error):
            // The head is out, so no error status can follow: ending the connection without the
            // last chunk tells the client the content is incomplete.
            environment.logger.info("streamed response ended early", metadata: ["path": "\(stream.path)", "error": "\(error)"])
            close()
        case .success(let piece?) where piece.isEmpty:
            requestNextPiece(stream)
        case .success(let piece?):
            if stream.chunked {
                outbound.append(contentsOf: (String(piece.count, radix: 16) + "\r\n").utf8)
                outbound.append(contentsOf: piece)
                outbound.append(contentsOf: "\r\n".utf8)
            } else {
                outbound.append(contentsOf: piece)
            }
            flushOutbound()
        case .success(nil):
            if stream.chunked { outbound.append(contentsOf: "0\r\n\r\n".utf8) }
            closeAfterWrite = !stream.keepAlive || shuttingDown
            state = .idle
            flushOutbound()
            if case .idle = state { resumeReading(); process() }
        }
    }

    // MARK: Writing

    /// Writes what it can without blocking. When everything is out, a stream asks for its next
    /// piece and a closing response starts the lingering close; when the socket fills, the
    /// connection waits for it to drain.
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
        if case .streaming(let stream) = state {
            requestNextPiece(stream)
        } else if closeAfterWrite {
            startLingeringClose()
        }
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
        stateBeforeWriting = .idle
        setInterest(.none)
        if case .streaming = state { deadline = 0 }
        flushOutbound()
        switch state {
        case .writing, .lingering, .closed, .handling, .streaming:
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
        case .handling, .streaming, .closed:
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
        if case .streaming(let stream) = state { stream.source.cancel() }
        if case .writing = state, case .streaming(let stream) = stateBeforeWriting { stream.source.cancel() }
        state = .closed
        stateBeforeWriting = .idle
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

/// A streamed response in progress: its source and how its pieces are framed.
private final class StreamingResponse: Sendable {
    let source: any ResponseBodySource
    let chunked: Bool
    let keepAlive: Bool
    let path: String

    init(source: any ResponseBodySource, chunked: Bool, keepAlive: Bool, path: String) {
        (self.source, self.chunked, self.keepAlive, self.path) = (source, chunked, keepAlive, path)
    }
}
