import Cryptography
import Foundation
import TallyTestSupport
import Testing
@testable import HTTP

/// HTTPS through OpenSSL, checked with curl as the client and a certificate made at test time.
@Suite("TLS", .serialized)
struct TLSTests {
    private static func makeCertificate() throws -> (certificate: String, key: String) {
        let directory = try TemporaryFiles.directory("tally-test")
        let certificate = directory + "/certificate.pem", key = directory + "/key.pem"
        let result = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                                  "-nodes", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                                                  "-days", "1", "-keyout", key, "-out", certificate])
        try #require(result.status == 0, "openssl could not make a test certificate")
        return (certificate, key)
    }

    @Test func servesHTTPSWithKeepAlive() throws {
        let files = try Self.makeCertificate()
        let context = try TLSContext(certificateChainPath: files.certificate, privateKeyPath: files.key)
        let server = try TestServer(tlsContext: context) { router in
            router.get("/secure") { request in .text(request.isSecure ? "secure" : "plain") }
        }
        let base = "https://127.0.0.1:\(server.port)"
        let result = try run("/usr/bin/curl", ["-s", "--cacert", files.certificate, "-w", " %{num_connects}",
                                               "\(base)/secure", "\(base)/hello",
                                               "--next", "-s", "--cacert", files.certificate, "-w", " %{num_connects}",
                                               "-d", "posted", "\(base)/echo"])
        #expect(result.status == 0)
        #expect(result.output.hasPrefix("secure 1hello 0posted 0"), "\(result.output)")
    }

    @Test func refusesTLSOlderThan12() throws {
        let files = try Self.makeCertificate()
        let context = try TLSContext(certificateChainPath: files.certificate, privateKeyPath: files.key)
        let server = try TestServer(tlsContext: context)
        let result = try run("/usr/bin/curl", ["-s", "-k", "--tlsv1.1", "--tls-max", "1.1", "https://127.0.0.1:\(server.port)/hello"])
        #expect(result.status != 0)
        let modern = try run("/usr/bin/curl", ["-s", "-k", "--tlsv1.2", "--tls-max", "1.2", "https://127.0.0.1:\(server.port)/hello"])
        #expect(modern.output == "hello")
    }

    @Test func plainHTTPToATLSPortIsDroppedWithoutHarm() throws {
        let files = try Self.makeCertificate()
        let context = try TLSContext(certificateChainPath: files.certificate, privateKeyPath: files.key)
        let server = try TestServer(tlsContext: context)
        let client = try RawClient(port: server.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(client.isClosedByServer())
        #expect(eventually { server.server.connectionCount == 0 })
    }

    @Test func mismatchedKeyIsAClearError() throws {
        let first = try Self.makeCertificate()
        let second = try Self.makeCertificate()
        #expect {
            _ = try TLSContext(certificateChainPath: first.certificate, privateKeyPath: second.key)
        } throws: { error in
            "\(error)".contains("mismatch") || "\(error)".contains("does not match")
        }
        #expect {
            _ = try TLSContext(certificateChainPath: "/nonexistent.pem", privateKeyPath: second.key)
        } throws: { error in
            "\(error)".contains("/nonexistent.pem")
        }
    }
}
