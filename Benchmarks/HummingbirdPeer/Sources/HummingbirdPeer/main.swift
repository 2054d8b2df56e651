// Serves the benchmark's routes the way a Hummingbird user would write them:
//   GET  /health         small JSON
//   GET  /bench.html     a static file from the directory given as the second argument
//   POST /api/echo       a JSON body decoded and answered
import Foundation
import Hummingbird
import NIOCore
import NIOPosix

struct EchoRequest: Decodable { let name: String; let values: [Int] }
struct EchoResponse: ResponseEncodable { let name: String; let count: Int; let sum: Int }
struct Health: ResponseEncodable { let status: String }

let port = Int(CommandLine.arguments.dropFirst().first ?? "8081") ?? 8081
let publicDirectory = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : "Public"
// The number of event-loop threads, the same as Tally is given in the same run.
let threads = CommandLine.arguments.count > 3 ? Int(CommandLine.arguments[3]) ?? System.coreCount : System.coreCount

let router = Router()
router.middlewares.add(FileMiddleware(publicDirectory, searchForIndexHtml: true))
router.get("/health") { _, _ in Health(status: "ok") }
router.post("/api/echo") { request, context -> EchoResponse in
    let body = try await request.decode(as: EchoRequest.self, context: context)
    return EchoResponse(name: body.name, count: body.values.count, sum: body.values.reduce(0, +))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                      eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup(numberOfThreads: threads)))
try await app.runService()
