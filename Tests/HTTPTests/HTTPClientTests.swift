import Cryptography
import Foundation
import Glibc
import OutgoingHTTP
import TallyTestSupport
import Testing

/// The client Tally calls other servers with, against Tally's own server over real sockets:
/// fixed-length and chunked bodies, HTTPS with the certificate checked, and each way a server
/// can fail (nothing listening, a name that does not resolve, silence past the deadline).
@Suite("Outgoing HTTP client")
struct HTTPClientTests {
    private let client = HTTPClient(timeoutSeconds: 5, tls: try! TLSClientContext())

    @Test func readsFixedLengthAndChunkedResponses() throws {
        let server = try TestServer()
        let hello = try client.send("GET", "http://127.0.0.1:\(server.port)/hello")
        #expect(hello.status == 200 && hello.bodyText == "hello" && hello.header("content-type")?.hasPrefix("text/plain") == true)
        let echoed = try client.send("POST", "http://127.0.0.1:\(server.port)/echo", headers: [("Content-Type", "application/octet-stream")], body: Array("ping ✓".utf8))
        #expect(echoed.bodyText == "ping ✓")
        let streamed = try client.send("GET", "http://localhost:\(server.port)/stream?lines=500")
        #expect(streamed.header("Transfer-Encoding") == "chunked")
        #expect(streamed.bodyText == (0..<500).map { "line \($0)\n" }.joined())
        // Read as it arrives: the pieces, their chunked coding removed, make the same body.
        let pieces = PieceCollector()
        let head = try client.stream("GET", "http://127.0.0.1:\(server.port)/stream?lines=500") { pieces.add($0) }
        #expect(head.status == 200 && head.body.isEmpty && pieces.text == (0..<500).map { "line \($0)\n" }.joined() && pieces.count >= 1)
        let missing = try client.send("GET", "http://127.0.0.1:\(server.port)/nothing-here")
        #expect(missing.status == 404, "an error status is a response, not an error")
    }

    @Test func checksTheServersCertificate() throws {
        let directory = try TemporaryFiles.directory("tally-test")
        let certificate = directory + "/certificate.pem", key = directory + "/key.pem"
        let made = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                               "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                                               "-days", "1", "-keyout", key, "-out", certificate])
        try #require(made.status == 0)
        let server = try TestServer(tlsContext: try TLSContext(certificateChainPath: certificate, privateKeyPath: key))
        let trusting = HTTPClient(timeoutSeconds: 5, tls: try TLSClientContext(certificateAuthorityPath: certificate))
        #expect(try trusting.send("GET", "https://localhost:\(server.port)/hello").bodyText == "hello")
        #expect(try trusting.send("GET", "https://127.0.0.1:\(server.port)/stream?lines=3").bodyText == "line 0\nline 1\nline 2\n")

        // The system's trust store does not hold the test's certificate: refused, saying why.
        let error = #expect(throws: HTTPClientError.self) { try client.send("GET", "https://localhost:\(server.port)/hello") }
        #expect(error?.kind == .tls && error?.description.contains("certificate") == true, "\(String(describing: error))")
    }

    @Test func namesEachWayAServerFails() throws {
        // A port nothing listens on.
        let listener = try #require(TestListener())
        let deadPort = listener.port
        listener.close()
        let refused = #expect(throws: HTTPClientError.self) { try client.send("GET", "http://127.0.0.1:\(deadPort)/v1/models") }
        #expect(refused?.kind == .unreachable && refused?.isTransient == true && refused?.description.contains("127.0.0.1:\(deadPort)") == true, "\(String(describing: refused))")

        let unknownHost = #expect(throws: HTTPClientError.self) { try client.send("GET", "http://no-such-host.invalid/v1") }
        #expect(unknownHost?.kind == .unreachable && unknownHost?.description.contains("no-such-host.invalid") == true)

        let badURL = #expect(throws: HTTPClientError.self) { try client.send("GET", "ftp://example.com/") }
        #expect(badURL?.kind == .invalidURL && badURL?.isTransient == false)

        // A server that accepts the connection and never answers: the deadline ends the wait.
        let silent = try #require(TestListener())
        defer { silent.close() }
        let impatient = HTTPClient(timeoutSeconds: 0.5, tls: try TLSClientContext())
        let started = Date()
        let timedOut = #expect(throws: HTTPClientError.self) { try impatient.send("GET", "http://127.0.0.1:\(silent.port)/slow") }
        #expect(timedOut?.kind == .timedOut && Date().timeIntervalSince(started) < 4, "\(String(describing: timedOut))")
    }
}

/// The pieces of a streamed body.
final class PieceCollector: @unchecked Sendable {
    private(set) var count = 0
    private var bytes: [UInt8] = []
    func add(_ piece: [UInt8]) { count += 1; bytes += piece }
    var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// A listening socket that never accepts: connections complete in its backlog and hear nothing.
final class TestListener {
    private var descriptor: Int32
    let port: Int

    init?() {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(descriptor, 8) == 0 else { return nil }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
        (self.descriptor, port) = (descriptor, Int(UInt16(bigEndian: address.sin_port)))
    }

    func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }

    deinit { close() }
}
