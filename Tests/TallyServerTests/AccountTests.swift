import Cryptography
import Foundation
import Glibc
import HTTP
import Labeling
import Logging
import Storage
import Testing
@testable import TallyServer

/// A Tally server with a fresh database and three users, over real sockets.
final class TallyTestServer: @unchecked Sendable {
    let server: Server
    let database: DatabasePool
    let databasePath: String
    static let password = "correct horse battery"
    var port: Int { server.port }

    init() throws {
        let directory = NSTemporaryDirectory() + "tally-app-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        databasePath = directory + "/tally.sqlite"
        database = try DatabasePool(path: databasePath, readerCount: 2)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let migrations = try Migration.load(from: root.appendingPathComponent("Migrations").path)
        try database.withWriter { try Migrator(migrations: migrations).migrate($0) }
        let hasher = PasswordHasher(iterations: 1000)
        try database.write { database in
            for (name, role) in [("ada", Role.admin), ("rita", Role.researcher), ("lena", Role.labeler)] {
                _ = try UserRepository().create(username: name, role: role, passwordHash: hasher.hash(Self.password), in: database)
            }
            _ = try UserRepository().create(username: "sam", role: .labeler, status: .suspended, passwordHash: hasher.hash(Self.password), in: database)
        }
        var options = TallyApplication.Options()
        options.passwordIterations = 1000
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let application = try TallyApplication(database: database, publicDirectory: root.appendingPathComponent("Public").path,
                                               logger: logger, options: options)
        var configuration = ServerConfiguration()
        configuration.port = 0
        server = Server(configuration: configuration, router: application.router, middleware: application.middleware, logger: logger)
        try server.start()
    }

    deinit { server.shutdown(gracePeriod: 1) }
}

/// One HTTP exchange over a new connection.
struct APIResponse {
    let status: Int
    let headers: [(String, String)]
    let body: String
    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
}

func call(_ port: Int, _ method: String, _ path: String, headers: [String: String] = [:], json: String? = nil, rawBody: String? = nil) throws -> APIResponse {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw CocoaError(.fileReadUnknown) }
    var request = "\(method) \(path) HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
    for (name, value) in headers { request += "\(name): \(value)\r\n" }
    if let json { request += "Content-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n" }
    if let rawBody, headers["Content-Length"] == nil { request += "Content-Length: \(rawBody.utf8.count)\r\n" }
    request += "\r\n" + (json ?? rawBody ?? "")
    let bytes = Array(request.utf8)
    _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = recv(descriptor, &buffer, buffer.count, 0)
        if count <= 0 { break }
        received += buffer[..<count]
    }
    let text = String(decoding: received, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { throw CocoaError(.fileReadCorruptFile) }
    let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
    let status = Int(lines[0].split(separator: " ")[1]) ?? 0
    let headers = lines.dropFirst().map { line -> (String, String) in
        let colon = line.firstIndex(of: ":")!
        return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }
    var body = String(text[split.upperBound...])
    if headers.contains(where: { $0.0.lowercased() == "transfer-encoding" && $0.1 == "chunked" }) {
        // Undo the chunked coding: size line, data, CRLF, until the zero-size chunk.
        var decoded = "", rest = Substring(body)
        while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let data = rest.utf8[lineEnd.upperBound...].prefix(size)
            decoded += String(decoding: data, as: UTF8.self)
            rest = Substring(String(decoding: rest.utf8[lineEnd.upperBound...].dropFirst(size + 2), as: UTF8.self))
        }
        body = decoded
    }
    return APIResponse(status: status, headers: headers, body: body)
}

/// Signs in and returns the cookie header value and the CSRF token.
func signIn(_ port: Int, _ username: String, password: String = TallyTestServer.password) throws -> (cookie: String, csrf: String) {
    let response = try call(port, "POST", "/api/session", json: #"{"username": "\#(username)", "password": "\#(password)"}"#)
    guard response.status == 200, let setCookie = response.header("Set-Cookie"), let csrf = response.json["csrfToken"] as? String else {
        throw CocoaError(.userCancelled)
    }
    return (String(setCookie.split(separator: ";")[0]), csrf)
}

@Suite("Accounts, sessions and roles over HTTP", .serialized)
struct AccountTests {
    @Test func signInSetsASafeCookieAndWrongPasswordsLookAlike() throws {
        let app = try TallyTestServer()
        let response = try call(app.port, "POST", "/api/session", json: #"{"username": "lena", "password": "correct horse battery"}"#)
        #expect(response.status == 200)
        let cookie = try #require(response.header("Set-Cookie"))
        #expect(cookie.hasPrefix("tally_session="))
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"))
        #expect(!cookie.contains("Secure"))
        #expect((response.json["user"] as? [String: Any])?["role"] as? String == "labeler")
        #expect((response.json["csrfToken"] as? String)?.count == 43)
        let wrong = try call(app.port, "POST", "/api/session", json: #"{"username": "lena", "password": "nope nope"}"#)
        let unknown = try call(app.port, "POST", "/api/session", json: #"{"username": "nobody", "password": "nope nope"}"#)
        #expect(wrong.status == 401 && unknown.status == 401)
        #expect(wrong.body == unknown.body)
        let suspended = try call(app.port, "POST", "/api/session", json: #"{"username": "sam", "password": "correct horse battery"}"#)
        #expect(suspended.status == 403)
        let malformed = try call(app.port, "POST", "/api/session", json: #"{"username": "lena"}"#)
        #expect(malformed.status == 400)
        #expect(malformed.body.contains("field 'password' is missing"))
    }

    /// Every protected route against every role: 401 without credentials, 403 for the wrong role.
    @Test func routeByRoleTable() throws {
        let app = try TallyTestServer()
        let sessions = try ["admin": signIn(app.port, "ada"), "researcher": signIn(app.port, "rita"), "labeler": signIn(app.port, "lena")]
        struct Case { let method: String; let path: String; let body: String?; let allowed: Set<String> }
        let cases = [
            Case(method: "GET", path: "/api/session", body: nil, allowed: ["admin", "researcher", "labeler"]),
            Case(method: "POST", path: "/api/tokens", body: #"{"name": "script"}"#, allowed: ["admin", "researcher"]),
            Case(method: "GET", path: "/api/users", body: nil, allowed: ["admin"]),
            Case(method: "POST", path: "/api/users", body: #"{"username": "new-UNIQUE", "role": "labeler", "password": "long enough"}"#, allowed: ["admin"]),
        ]
        for item in cases {
            #expect(try call(app.port, item.method, item.path, json: item.body).status == 401, "anonymous \(item.method) \(item.path)")
            for (role, session) in sessions {
                let body = item.body?.replacingOccurrences(of: "UNIQUE", with: role)
                let response = try call(app.port, item.method, item.path, headers: ["Cookie": session.cookie, "X-CSRF-Token": session.csrf], json: body)
                if item.allowed.contains(role) {
                    #expect((200..<300).contains(response.status), "\(role) \(item.method) \(item.path): \(response.status) \(response.body)")
                } else {
                    #expect(response.status == 403, "\(role) \(item.method) \(item.path): \(response.status)")
                    #expect(response.errorCode == "forbidden")
                }
            }
        }
    }

    @Test func csrfTokenIsRequiredForCookieWritesButNotForAPITokens() throws {
        let app = try TallyTestServer()
        let admin = try signIn(app.port, "ada")
        let body = #"{"username": "newbie", "role": "labeler", "password": "long enough"}"#
        let missing = try call(app.port, "POST", "/api/users", headers: ["Cookie": admin.cookie], json: body)
        #expect(missing.status == 403)
        #expect(missing.errorCode == "csrf_token_missing")
        let forged = try call(app.port, "POST", "/api/users", headers: ["Cookie": admin.cookie, "X-CSRF-Token": "forged"], json: body)
        #expect(forged.status == 403)
        #expect(try call(app.port, "GET", "/api/users", headers: ["Cookie": admin.cookie]).status == 200)

        let created = try call(app.port, "POST", "/api/tokens", headers: ["Cookie": admin.cookie, "X-CSRF-Token": admin.csrf], json: #"{"name": "import script"}"#)
        #expect(created.status == 201)
        let token = try #require(created.json["token"] as? String)
        #expect(token.hasPrefix("tally_"))
        let viaToken = try call(app.port, "POST", "/api/users", headers: ["Authorization": "Bearer \(token)"], json: body)
        #expect(viaToken.status == 201, "\(viaToken.body)")
        #expect(try call(app.port, "GET", "/api/users", headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(try call(app.port, "GET", "/api/users", headers: ["Authorization": "Basic abc"]).status == 401)
        // The token is stored hashed, never in the clear.
        let stored = try app.database.read { try $0.queryScalarText("SELECT token_hash FROM api_tokens") }
        #expect(stored == SHA256.hexDigest(token))
    }

    @Test func signOutEndsTheSession() throws {
        let app = try TallyTestServer()
        let session = try signIn(app.port, "rita")
        #expect(try call(app.port, "GET", "/api/session", headers: ["Cookie": session.cookie]).status == 200)
        let signOut = try call(app.port, "DELETE", "/api/session", headers: ["Cookie": session.cookie, "X-CSRF-Token": session.csrf])
        #expect(signOut.status == 204)
        #expect(signOut.header("Set-Cookie")?.contains("Max-Age=0") == true)
        let after = try call(app.port, "GET", "/api/session", headers: ["Cookie": session.cookie])
        #expect(after.status == 401)
    }

    @Test func repeatedFailuresAreRateLimited() throws {
        let app = try TallyTestServer()
        for _ in 0..<5 {
            #expect(try call(app.port, "POST", "/api/session", json: #"{"username": "ada", "password": "guess guess"}"#).status == 401)
        }
        let limited = try call(app.port, "POST", "/api/session", json: #"{"username": "ada", "password": "correct horse battery"}"#)
        #expect(limited.status == 429)
        #expect(Int(limited.header("Retry-After") ?? "") ?? 0 > 0)
        #expect(limited.errorCode == "too_many_sign_in_attempts")
    }

    @Test func signInsAndAdminActionsAreAudited() throws {
        let app = try TallyTestServer()
        _ = try call(app.port, "POST", "/api/session", json: #"{"username": "ada", "password": "wrong wrong"}"#)
        let admin = try signIn(app.port, "ada")
        _ = try call(app.port, "POST", "/api/users", headers: ["Cookie": admin.cookie, "X-CSRF-Token": admin.csrf],
                     json: #"{"username": "audited", "role": "researcher", "password": "long enough"}"#)
        let actions = try app.database.read { try $0.query("SELECT action FROM audit_log ORDER BY id").compactMap { $0["action"].text } }
        #expect(actions == ["sign_in.failed", "sign_in", "user.create"])
    }

    @Test func responsesCarryAStrictContentSecurityPolicy() throws {
        let app = try TallyTestServer()
        let page = try call(app.port, "GET", "/")
        let policy = try #require(page.header("Content-Security-Policy"))
        #expect(policy.contains("script-src 'self'"))
        #expect(!policy.contains("unsafe-inline"))
        #expect(page.header("X-Frame-Options") == "DENY")
    }
}
