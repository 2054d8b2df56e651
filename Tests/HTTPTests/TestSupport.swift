import Cryptography
import Foundation
import TallyTestSupport
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
            return .stream(contentType: "text/plain", pieces: (0..<count).lazy.map { Array("line \($0)\n".utf8) })
        }
        router.get("/events") { _ in
            let events = EventStream()
            for index in 0..<3 { events.send(event: "progress", data: "step \(index)\nsecond line", id: "\(index)") }
            events.finish()
            return .eventStream(events)
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

