import BackgroundTraining
import Cryptography
import Foundation
import HTTP
import Labeling
import Logging
import Storage
import TallyTestSupport
@testable import TallyServer

/// A Tally server with a fresh database and three users, over real sockets.
final class TallyTestServer: @unchecked Sendable {
    let server: Server
    let application: TallyApplication
    let database: DatabasePool
    let databasePath: String
    static let password = "correct horse battery"
    var port: Int { server.port }

    /// A trailing closure configures the server (it comes first); `configureApplication`, by
    /// its label, the application's options.
    init(generation: ChatGenerator.Configuration = ChatGenerator.Configuration(),
         configure: (inout ServerConfiguration) -> Void = { _ in },
         configureApplication: (inout TallyApplication.Options) -> Void = { _ in }) throws {
        let directory = TemporaryFiles.path("tally-app")
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
        options.generation = generation
        configureApplication(&options)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        application = try TallyApplication(database: database, publicDirectory: root.appendingPathComponent("Public").path,
                                               logger: logger, options: options)
        var configuration = ServerConfiguration()
        configuration.port = 0
        configure(&configuration)
        server = Server(configuration: configuration, router: application.router, middleware: application.middleware, logger: logger)
        try server.start()
    }

    deinit {
        server.shutdown(gracePeriod: 1)
        application.stop()
    }
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

/// One request over a new connection; a response that does not come within `timeoutSeconds` fails the call.
func call(_ port: Int, _ method: String, _ path: String, headers: [String: String] = [:], json: String? = nil, rawBody: String? = nil,
          timeoutSeconds: Int = 30) throws -> APIResponse {
    let client = try RawClient(port: port, timeoutSeconds: timeoutSeconds)
    var request = "\(method) \(path) HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
    for (name, value) in headers { request += "\(name): \(value)\r\n" }
    if let json { request += "Content-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n" }
    if let rawBody, headers["Content-Length"] == nil { request += "Content-Length: \(rawBody.utf8.count)\r\n" }
    try client.send(request + "\r\n" + (json ?? rawBody ?? ""))
    let response = try client.readResponse(forHead: method == "HEAD")
    return APIResponse(status: response.statusCode, headers: response.headers, body: response.text)
}

/// Signs in and returns the cookie header value and the CSRF token.
func signIn(_ port: Int, _ username: String, password: String = TallyTestServer.password) throws -> (cookie: String, csrf: String) {
    let response = try call(port, "POST", "/api/session", json: #"{"username": "\#(username)", "password": "\#(password)"}"#)
    guard response.status == 200, let setCookie = response.header("Set-Cookie"), let csrf = response.json["csrfToken"] as? String else {
        throw CocoaError(.userCancelled)
    }
    return (String(setCookie.split(separator: ";")[0]), csrf)
}

/// A stand-in OpenAI-compatible server on a free loopback port: `POST /v1/chat/completions`
/// answered by `answer` (an endpoint that tests control).
func chatCompletionsStub(_ answer: @escaping @Sendable (Request) throws -> Response) throws -> Server {
    var router = Router()
    router.post("/v1/chat/completions", answer)
    var configuration = ServerConfiguration()
    (configuration.host, configuration.port) = ("127.0.0.1", 0)
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    let server = Server(configuration: configuration, router: router, middleware: [], logger: logger)
    try server.start()
    return server
}
