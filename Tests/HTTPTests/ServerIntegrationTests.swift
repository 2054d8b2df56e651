import Foundation
import TallyTestSupport
import Glibc
import Testing
@testable import HTTP

/// The server over real loopback sockets, driven by a raw client that controls every byte.
@Suite("HTTP server over sockets", .serialized)
struct ServerIntegrationTests {
    @Test func keepAliveServesSeveralRequestsOnOneConnection() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        for index in 0..<3 {
            try client.send("GET /items/\(index) HTTP/1.1\r\nHost: test\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.statusCode == 200)
            #expect(response.text == "item \(index)")
            #expect(response.header("Connection") == nil)
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        let requests = (0..<5).map { "GET /items/\($0) HTTP/1.1\r\nHost: test\r\n\r\n" }.joined()
            + "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n\r\nlast"
        try client.send(requests)
        for index in 0..<5 { #expect(try client.readResponse().text == "item \(index)") }
        #expect(try client.readResponse().text == "last")
    }

    @Test func connectionCloseIsHonoured() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.header("Connection") == "close")
        #expect(client.isClosedByServer())
    }

    @Test func http10ClosesUnlessAskedToKeepAlive() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        try client.send("GET /hello HTTP/1.0\r\n\r\n")
        #expect(try client.readResponse().text == "hello")
        #expect(client.isClosedByServer())
        let second = try RawClient(port: server.port)
        try second.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(try second.readResponse().header("Connection") == "keep-alive")
        try second.send("GET /hello HTTP/1.0\r\n\r\n")
        #expect(try second.readResponse().statusCode == 200)
    }

    @Test func chunkedRequestBodyIsDecoded() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        try client.send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nTall\r\n")
        usleep(50_000)
        try client.send("1;ext=1\r\ny\r\n0\r\nTrailer: x\r\n\r\n")
        #expect(try client.readResponse().text == "Tally")
    }

    @Test func expectContinueGetsInterimResponse() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        try client.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        #expect(try client.readResponse().statusCode == 100)
        try client.send("hello")
        #expect(try client.readResponse().text == "hello")
    }

    @Test func expectContinueOverTheLimitGets413WithoutWaitingForTheBody() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        try client.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 999999999\r\nExpect: 100-continue\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.statusCode == 413)
        #expect(response.text.contains("\"code\":\"content_too_large\""))
        #expect(client.isClosedByServer())
    }

    @Test func bodyLimitIsPerRoute() throws {
        let server = try TestServer()
        let body = String(repeating: "x", count: 2 << 20)
        let small = try RawClient(port: server.port)
        try small.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
        #expect(try small.readResponse().statusCode == 413)
        let large = try RawClient(port: server.port)
        try large.send("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        #expect(try large.readResponse().text == "\(body.utf8.count)")
    }

    @Test func chunkedBodyOverTheLimitIs413() throws {
        var configuration = ServerConfiguration()
        configuration.maxBodyBytes = 10
        let server = try TestServer(configuration: configuration)
        let client = try RawClient(port: server.port)
        try client.send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n\(String(repeating: "a", count: 32))\r\n0\r\n\r\n")
        #expect(try client.readResponse().statusCode == 413)
        #expect(client.isClosedByServer())
    }

    @Test func smugglingAttemptIsRefusedAndTheConnectionClosed() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        try client.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.statusCode == 400)
        #expect(response.header("Connection") == "close")
        #expect(client.isClosedByServer())
    }

    @Test(arguments: [
        ("GET /hello HTTP/1.1\r\nHost: test\r\nBad Header: x\r\n\r\n", 400),
        ("BREW /hello HTTP/1.1\r\nHost: test\r\n\r\n", 501),
        ("GET /%zz HTTP/1.1\r\nHost: test\r\n\r\n", 400),
        ("GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\nHost: test\r\n\r\n", 414),
        ("GET /hello HTTP/1.1\r\nHost: test\r\nX-Big: \(String(repeating: "b", count: 17000))\r\n\r\n", 431),
        ("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("GET /hello HTTP/3.0\r\nHost: test\r\n\r\n", 505),
    ])
    func badInputIsAnsweredWithAStatusThenClosed(request: String, expectedStatus: Int) throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        try client.send(request)
        let response = try client.readResponse()
        #expect(response.statusCode == expectedStatus)
        #expect(response.text.contains("\"error\""))
        #expect(client.isClosedByServer())
    }

    @Test func postWithoutLengthHasAnEmptyBody() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        try client.send("POST /echo HTTP/1.1\r\nHost: test\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.statusCode == 200)
        #expect(response.body.isEmpty)
    }

    @Test func routerAnswers404And405WithAllow() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        try client.send("GET /nowhere HTTP/1.1\r\nHost: test\r\n\r\n")
        let missing = try client.readResponse()
        #expect(missing.statusCode == 404)
        #expect(missing.text.contains("\"code\":\"not_found\""))
        try client.send("DELETE /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        let wrongMethod = try client.readResponse()
        #expect(wrongMethod.statusCode == 405)
        #expect(wrongMethod.header("Allow") == "GET, HEAD")
    }

    @Test func headHasTheLengthButNoBody() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        try client.send("HEAD /hello HTTP/1.1\r\nHost: test\r\n\r\nGET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        let head = try client.readResponse(forHead: true)
        #expect(head.statusCode == 200)
        #expect(head.header("Content-Length") == "5")
        #expect(try client.readResponse().text == "hello")
    }

    @Test func handlerErrorsBecome500WithTheUniformBody() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        try client.send("GET /fail HTTP/1.1\r\nHost: test\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.statusCode == 500)
        #expect(response.text.contains("\"code\":\"internal_error\""))
        try client.send("GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(try client.readResponse().statusCode == 200)
    }

    /// A deferred response that fails is answered by the same mapping as a thrown error: a known
    /// error gets its status, any other a 500 that says nothing of it (its text can hold SQL).
    @Test func deferredFailuresAreMappedInTheOnePlace() throws {
        struct DatabaseFailure: Error, CustomStringConvertible { var description: String { "SQLite error 19 in INSERT INTO rankings ..." } }
        let server = try TestServer { router in
            router.get("/deferred-known", mayBlock: false) { _ in .deferred { $0(.failure(HTTPError(.conflict, code: "conflict", message: "Taken."))) } }
            router.get("/deferred-unknown", mayBlock: false) { _ in .deferred { $0(.failure(DatabaseFailure())) } }
        }
        let client = try RawClient(port: server.port)
        try client.send("GET /deferred-known HTTP/1.1\r\nHost: test\r\n\r\n")
        let known = try client.readResponse()
        #expect(known.statusCode == 409 && known.text.contains("Taken."))
        try client.send("GET /deferred-unknown HTTP/1.1\r\nHost: test\r\n\r\n")
        let unknown = try client.readResponse()
        #expect(unknown.statusCode == 500 && unknown.text.contains("\"code\":\"internal_error\""))
        #expect(!unknown.text.contains("SQL") && !unknown.text.contains("INSERT"))
        #expect(unknown.header("X-Content-Type-Options") == "nosniff")
    }

    @Test func jsonErrorsNameTheField() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        let body = #"{"name": "x", "count": "three"}"#
        try client.send("POST /json HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let response = try client.readResponse()
        #expect(response.statusCode == 400)
        #expect(response.text.contains("field 'count' should be an integer"))
        let missing = #"{"name": "x"}"#
        try client.send("POST /json HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: \(missing.utf8.count)\r\n\r\n\(missing)")
        #expect(try client.readResponse().text.contains("field 'count' is missing"))
    }

    @Test func requestIDIsEchoedOrMade() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: test\r\nX-Request-ID: abc-123\r\n\r\nGET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(try client.readResponse().header("X-Request-ID") == "abc-123")
        #expect(try client.readResponse().header("X-Request-ID")?.isEmpty == false)
    }

    @Test func streamedResponseIsChunked() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        try client.send("GET /stream?lines=20000 HTTP/1.1\r\nHost: test\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.header("Transfer-Encoding") == "chunked")
        let lines = response.text.split(separator: "\n")
        #expect(lines.count == 20000)
        #expect(lines.last == "line 19999")
        // The connection stays usable after a streamed response.
        try client.send("GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(try client.readResponse().text == "hello")
    }

    @Test func streamedResponseToHTTP10EndsWithClose() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        try client.send("GET /stream?lines=3 HTTP/1.0\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.header("Transfer-Encoding") == nil)
        #expect(response.text == "line 0\nline 1\nline 2\n")
    }

    @Test func serverSentEventsAreFramed() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        try client.send("GET /events HTTP/1.1\r\nHost: test\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.header("Content-Type") == "text/event-stream")
        #expect(response.text.hasPrefix("id: 0\nevent: progress\ndata: step 0\ndata: second line\n\n"))
        #expect(response.text.components(separatedBy: "event: progress").count == 4)
    }

    @Test func headerTimeoutAnswers408() throws {
        var configuration = ServerConfiguration()
        configuration.readHeaderTimeout = 0.3
        let server = try TestServer(configuration: configuration)
        let client = try RawClient(port: server.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: te")
        let response = try client.readResponse()
        #expect(response.statusCode == 408)
        #expect(client.isClosedByServer())
    }

    @Test func bodyTimeoutAnswers408() throws {
        var configuration = ServerConfiguration()
        configuration.readBodyTimeout = 0.3
        let server = try TestServer(configuration: configuration)
        let client = try RawClient(port: server.port)
        try client.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nabc")
        #expect(try client.readResponse().statusCode == 408)
    }

    @Test func idleConnectionsAreClosed() throws {
        var configuration = ServerConfiguration()
        configuration.idleTimeout = 0.3
        let server = try TestServer(configuration: configuration)
        let client = try RawClient(port: server.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(try client.readResponse().statusCode == 200)
        #expect(client.isClosedByServer())
        #expect(eventually { server.server.connectionCount == 0 })
    }

    @Test func aSlowClientDoesNotHoldUpOthers() throws {
        let server = try TestServer()
        let slow = try RawClient(port: server.port)
        try slow.send("GET /hello HTTP/1.1\r\n")
        let fast = try RawClient(port: server.port)
        try fast.send("GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(try fast.readResponse().text == "hello")
        try slow.send("Host: test\r\n\r\n")
        #expect(try slow.readResponse().text == "hello")
    }

    @Test func connectionsBeyondTheLimitGet503() throws {
        var configuration = ServerConfiguration()
        configuration.maxConnections = 2
        let server = try TestServer(configuration: configuration)
        let first = try RawClient(port: server.port)
        let second = try RawClient(port: server.port)
        try first.send("GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        try second.send("GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        _ = try first.readResponse()
        _ = try second.readResponse()
        let third = try RawClient(port: server.port)
        let refused = try third.readResponse()
        #expect(refused.statusCode == 503)
        #expect(refused.header("Retry-After") == "1")
        // The two admitted connections keep working.
        try first.send("GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(try first.readResponse().statusCode == 200)
    }

    @Test func manyConcurrentClients() throws {
        let server = try TestServer()
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 64) { clientIndex in
            do {
                let client = try RawClient(port: server.port)
                for request in 0..<25 {
                    let body = "client \(clientIndex) request \(request)"
                    try client.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                    let response = try client.readResponse()
                    if response.text != body { failures.withLock { $0.append("wrong body: \(response.text)") } }
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.load().isEmpty, "\(failures.load().prefix(3))")
    }

    @Test func gracefulShutdownFinishesInFlightRequests() throws {
        let server = try TestServer()
        let busy = try RawClient(port: server.port)
        let idle = try RawClient(port: server.port)
        try idle.send("GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        _ = try idle.readResponse()
        try busy.send("GET /slow?ms=400 HTTP/1.1\r\nHost: test\r\n\r\n")
        usleep(100_000)
        let port = server.port
        let finished = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            server.server.shutdown(gracePeriod: 5)
            finished.signal()
        }
        // The idle connection is closed at once; the busy one gets its answer, marked closing.
        #expect(idle.isClosedByServer())
        let response = try busy.readResponse()
        #expect(response.text == "slow done")
        #expect(response.header("Connection") == "close")
        #expect(finished.wait(timeout: .now() + 5) == .success)
        #expect(server.server.connectionCount == 0)
        #expect(throws: ClientError.self) { _ = try RawClient(port: port) }
    }

    @Test func shutdownClosesConnectionsStillBusyAfterTheGracePeriod() throws {
        let server = try TestServer()
        let busy = try RawClient(port: server.port)
        try busy.send("GET /slow?ms=1500 HTTP/1.1\r\nHost: test\r\n\r\n")
        usleep(100_000)
        let start = Date()
        server.server.shutdown(gracePeriod: 0.2)
        #expect(Date().timeIntervalSince(start) < 4)
    }
}
