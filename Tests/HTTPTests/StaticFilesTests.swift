import Foundation
import TallyTestSupport
import Testing
@testable import HTTP

@Suite("Static files over sockets", .serialized)
struct StaticFilesTests {
    /// root/ holds index.html, style.css, docs/index.html, a link to a file inside and a link to
    /// a folder outside; beside root/ lies secret.txt, which must never be served.
    private static func makeSite() throws -> (root: String, outside: String) {
        let base = try TemporaryFiles.directory("tally-test")
        let root = base + "/root"
        try FileManager.default.createDirectory(atPath: root + "/docs", withIntermediateDirectories: true)
        try "<h1>home</h1>".write(toFile: root + "/index.html", atomically: true, encoding: .utf8)
        try "body { color: red }".write(toFile: root + "/style.css", atomically: true, encoding: .utf8)
        try "<h1>docs</h1>".write(toFile: root + "/docs/index.html", atomically: true, encoding: .utf8)
        try "top secret".write(toFile: base + "/secret.txt", atomically: true, encoding: .utf8)
        try "[core]".write(toFile: root + "/.gitconfig", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/escape", withDestinationPath: base)
        try FileManager.default.createSymbolicLink(atPath: root + "/secret-link.txt", withDestinationPath: base + "/secret.txt")
        try FileManager.default.createSymbolicLink(atPath: root + "/alias.css", withDestinationPath: root + "/style.css")
        return (root, base)
    }

    private func get(_ target: String, port: Int, headers: String = "") throws -> ClientResponse {
        let client = try RawClient(port: port)
        try client.send("GET \(target) HTTP/1.1\r\nHost: test\r\n\(headers)\r\n")
        return try client.readResponse()
    }

    @Test func servesFilesWithTypesAndIndexes() throws {
        let site = try Self.makeSite()
        let server = try TestServer(publicDirectory: site.root)
        let css = try get("/style.css", port: server.port)
        #expect(css.statusCode == 200)
        #expect(css.header("Content-Type") == "text/css; charset=utf-8")
        #expect(css.text == "body { color: red }")
        #expect(css.header("Cache-Control") == "no-cache")
        #expect(try get("/", port: server.port).text == "<h1>home</h1>")
        #expect(try get("/docs", port: server.port).text == "<h1>docs</h1>")
        #expect(try get("/alias.css", port: server.port).statusCode == 200)
        // A dot-file is never the UI, and a file has nothing below it.
        #expect(try get("/.gitconfig", port: server.port).statusCode == 404)
        #expect(try get("/index.html/", port: server.port).statusCode == 404)
        #expect(try get("/docs/", port: server.port).text == "<h1>docs</h1>")
        #expect(try get("/missing.txt", port: server.port).statusCode == 404)
    }

    @Test func revalidationAnswers304() throws {
        let site = try Self.makeSite()
        let server = try TestServer(publicDirectory: site.root)
        let first = try get("/style.css", port: server.port)
        let etag = try #require(first.header("ETag"))
        let second = try get("/style.css", port: server.port, headers: "If-None-Match: \(etag)\r\n")
        #expect(second.statusCode == 304)
        #expect(second.body.isEmpty)
        #expect(second.header("ETag") == etag)
        let stale = try get("/style.css", port: server.port, headers: "If-None-Match: \"other\"\r\n")
        #expect(stale.statusCode == 200)
    }

    @Test func changedFilesAreServedFresh() throws {
        let site = try Self.makeSite()
        let server = try TestServer(publicDirectory: site.root)
        _ = try get("/style.css", port: server.port)
        usleep(20_000)
        try "body { color: blue }".write(toFile: site.root + "/style.css", atomically: true, encoding: .utf8)
        #expect(try get("/style.css", port: server.port).text == "body { color: blue }")
    }

    @Test(arguments: [
        "/../secret.txt",
        "/docs/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/docs/..%2f..%2fsecret.txt",
        "/escape/secret.txt",
        "/secret-link.txt",
        "/..%5csecret.txt",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
    ])
    func nothingOutsideTheRootIsServed(target: String) throws {
        let site = try Self.makeSite()
        let server = try TestServer(publicDirectory: site.root)
        let response = try get(target, port: server.port)
        #expect(response.statusCode == 404 || response.statusCode == 400, "\(target) answered \(response.statusCode)")
        #expect(!response.text.contains("top secret"))
    }

    @Test func nulBytesAreRefused() throws {
        let site = try Self.makeSite()
        let server = try TestServer(publicDirectory: site.root)
        #expect(try get("/style.css%00.html", port: server.port).statusCode == 400)
    }
}
