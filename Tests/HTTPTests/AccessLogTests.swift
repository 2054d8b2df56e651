import Foundation
import Glibc
import Logging
import TallyTestSupport
import Testing
@testable import HTTP

/// A log handler that keeps its level and drops every line: the server's own lines stay out of
/// the test's output, while the access log (which follows the logger's level) is on.
private struct SilentHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? { get { metadata[key] } set { metadata[key] = newValue } }
    func log(event: LogEvent) {}
}

/// Reads what is in a pipe without waiting.
private func drain(_ descriptor: Int32) -> String {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(descriptor, &buffer, buffer.count)
        if count <= 0 { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

@Suite("The access log, buffered off the request path")
struct AccessLogTests {
    private func pipePair() -> (read: Int32, write: Int32) {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        _ = fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK)
        return (ends[0], ends[1])
    }

    private func server(logLevel: Logger.Level, descriptor: Int32) throws -> Server {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.accessLogDescriptor = descriptor
        var router = Router()
        router.get("/hello") { _ in .text("hello") }
        var handler = SilentHandler()
        handler.logLevel = logLevel
        let logger = Logger(label: "tally-test") { _ in handler }
        let server = Server(configuration: configuration, router: router, logger: logger)
        try server.start()
        return server
    }

    @Test func everyRequestGetsALineWithinASecondAndNoneIsLostAtShutdown() throws {
        let (readEnd, writeEnd) = pipePair()
        defer { close(readEnd); close(writeEnd) }
        let server = try server(logLevel: .info, descriptor: writeEnd)
        let client = try RawClient(port: server.port)
        for index in 0..<200 {
            try client.send("GET /hello?n=\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().statusCode == 200)
        }
        // Not written on the request path: the lines come within the flush interval (1 s).
        var written = ""
        let deadline = Date().addingTimeInterval(5)
        while written.split(separator: "\n").count < 200 && Date() < deadline {
            usleep(50_000)
            written += drain(readEnd)
        }
        #expect(written.split(separator: "\n").count == 200, "the lines of the first second were written")
        let line = try #require(written.split(separator: "\n").first.map(String.init))
        #expect(line.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} info tally-test : duration_ms=[0-9.]+ method=GET path=\/hello remote=127\.0\.0\.1:\d+ status=200 \[HTTP\] request/) != nil, "\(line)")
        // Lines still in the buffer when the server shuts down are written before it stops.
        for index in 0..<50 {
            try client.send("GET /hello?late=\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try client.readResponse()
        }
        server.shutdown(gracePeriod: 1)
        written += drain(readEnd)
        #expect(written.split(separator: "\n").count == 250, "no line lost at a clean shutdown")
    }

    @Test func aLogBelowInfoWritesNoLine() throws {
        let (readEnd, writeEnd) = pipePair()
        defer { close(readEnd); close(writeEnd) }
        let server = try server(logLevel: .warning, descriptor: writeEnd)
        let client = try RawClient(port: server.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().statusCode == 200)
        server.shutdown(gracePeriod: 1)
        #expect(drain(readEnd).isEmpty)
    }

    @Test func aLogThatCannotKeepUpDropsLinesAndSaysHowMany() throws {
        let (readEnd, writeEnd) = pipePair()
        defer { close(readEnd); close(writeEnd) }
        // A backlog of 1 KiB and a long interval: the eleventh or so line no longer fits.
        let log = AccessLog(descriptor: writeEnd, label: "tally", flushInterval: 60, bufferLimit: 1 << 20, backlogLimit: 1 << 10)
        for index in 0..<100 { log.record(method: "GET", path: "/p/\(index)", status: 200, remote: "127.0.0.1:1", milliseconds: 0.5) }
        log.close()
        let lines = drain(readEnd).split(separator: "\n")
        let kept = lines.filter { $0.hasSuffix("[HTTP] request") }.count
        #expect(kept > 0 && kept < 100)
        #expect(lines.last?.contains("warning tally : dropped=\(100 - kept) [HTTP] access log lines dropped") == true, "\(lines.last ?? "")")
        // After close, nothing more is kept.
        log.record(method: "GET", path: "/after", status: 200, remote: "127.0.0.1:1", milliseconds: 0.5)
        #expect(drain(readEnd).isEmpty)
    }
}
