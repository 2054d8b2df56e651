import Cryptography
import Foundation
import Glibc
import Logging
@testable import HTTP

/// A server on a free loopback port with routes the tests exercise.
final class TestServer: @unchecked Sendable {
    let server: Server
    var port: Int { server.port }

    init(configuration: ServerConfiguration = ServerConfiguration(), publicDirectory: String? = nil,
         tlsContext: TLSContext? = nil, configure: (inout Router) -> Void = { _ in }) throws {
        var configuration = configuration
        configuration.host = "127.0.0.1"
        configuration.port = 0
        var router = Router()
        router.get("/hello") { _ in .text("hello") }
        router.post("/echo") { request in
            Response(status: .ok, contentType: "application/octet-stream", body: request.body)
        }
        router.post("/upload", maxBodyBytes: 4 << 20) { request in .text("\(request.body.count)") }
        router.get("/items/{id}") { request in .text("item \(request.pathParameters["id"] ?? "?")") }
        router.get("/slow") { request in
            let milliseconds = Int(request.queryValue("ms") ?? "300") ?? 300
            usleep(useconds_t(milliseconds * 1000))
            return .text("slow done")
        }
        router.get("/stream") { request in
            let count = Int(request.queryValue("lines") ?? "10") ?? 10
            return .stream(contentType: "text/plain") { writer in
                for index in 0..<count { try writer.write("line \(index)\n") }
            }
        }
        router.get("/events") { _ in
            .eventStream { events in
                for index in 0..<3 { try events.send(event: "progress", data: "step \(index)\nsecond line", id: "\(index)") }
            }
        }
        router.get("/fail") { _ in throw CocoaError(.fileNoSuchFile) }
        router.post("/json") { request in
            struct Payload: Codable { let name: String; let count: Int }
            let payload = try request.decodeJSON(Payload.self)
            return try .json(payload)
        }
        configure(&router)
        if let publicDirectory {
            let files = try StaticFiles(root: publicDirectory)
            router.fallback = { request in try files.respond(to: request) }
        }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        server = Server(configuration: configuration, router: router, middleware: [StandardMiddleware.requestID()],
                        tlsContext: tlsContext, logger: logger)
        try server.start()
    }

    deinit { server.shutdown(gracePeriod: 1) }
}

/// A parsed response as a raw-socket client sees it.
struct ClientResponse {
    let statusCode: Int
    let headers: [(String, String)]
    let body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

struct ClientError: Error, CustomStringConvertible {
    let description: String
}

/// A blocking HTTP client over a raw socket, so tests control every byte that is sent.
final class RawClient {
    let descriptor: Int32
    private var buffer: [UInt8] = []

    init(port: Int, timeoutSeconds: Int = 5) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(descriptor)
            throw ClientError(description: "connect failed: errno \(errno)")
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(descriptor) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw ClientError(description: "send failed: errno \(errno)") }
            offset += written
        }
    }

    /// Reads more bytes; false at end of stream.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(descriptor, &chunk, chunk.count, 0)
        if count > 0 {
            buffer.append(contentsOf: chunk[..<count])
            return true
        }
        if count == 0 { return false }
        if errno == ECONNRESET { return false }
        throw ClientError(description: "recv failed or timed out: errno \(errno)")
    }

    private func readLine() throws -> String {
        while true {
            if let index = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(buffer[..<index])
                buffer.removeSubrange(...index)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill() else { throw ClientError(description: "connection closed mid-line") }
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { throw ClientError(description: "connection closed mid-body") }
        }
        let bytes = Array(buffer[..<count])
        buffer.removeSubrange(..<count)
        return bytes
    }

    /// Reads one response; `forHead` skips the body of a HEAD response.
    func readResponse(forHead: Bool = false) throws -> ClientResponse {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let code = Int(parts[1]) else { throw ClientError(description: "bad status line '\(statusLine)'") }
        var headers: [(String, String)] = []
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            let colon = line.firstIndex(of: ":")!
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let response = ClientResponse(statusCode: code, headers: headers, body: [])
        if forHead || code == 204 || code == 304 || (100..<200).contains(code) { return response }
        if let length = response.header("Content-Length") {
            return ClientResponse(statusCode: code, headers: headers, body: try readExactly(Int(length)!))
        }
        if response.header("Transfer-Encoding") == "chunked" {
            var body: [UInt8] = []
            while true {
                let size = Int(try readLine().split(separator: ";")[0], radix: 16)!
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                body += try readExactly(size)
                _ = try readLine()
            }
            return ClientResponse(statusCode: code, headers: headers, body: body)
        }
        while try fill() {}
        defer { buffer.removeAll() }
        return ClientResponse(statusCode: code, headers: headers, body: buffer)
    }

    /// Whether the server has closed the connection (reads end of stream within the timeout).
    func isClosedByServer() -> Bool {
        do {
            while try fill() {}
            return true
        } catch {
            return false
        }
    }
}

/// Polls `condition` until it holds or `seconds` pass.
func eventually(within seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// Runs a program and returns its exit status and standard output.
@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}

/// A fresh empty directory under the system's temporary folder.
func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "tally-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
