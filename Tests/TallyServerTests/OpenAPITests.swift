import Foundation
import TallyTestSupport
import HTTP
import JSON
import Logging
import Storage
import Testing
@testable import TallyServer

/// Docs/openapi.yaml (JSON, which is also YAML) must list exactly the routes the server has.
@Suite("OpenAPI document")
struct OpenAPITests {
    @Test func documentsEveryRouteAndNoOther() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try JSONParser.parse(Array(try Data(contentsOf: root.appendingPathComponent("Docs/openapi.yaml"))))
        #expect(document["openapi"] == .string("3.1.0"))
        guard case .object(let paths)? = document["paths"] else { Issue.record("no paths"); return }
        var documented = Set<String>()
        for (path, operations) in paths {
            guard case .object(let methods) = operations else { continue }
            for (method, _) in methods { documented.insert("\(method.uppercased()) \(path)") }
        }
        let database = try DatabasePool(path: TemporaryFiles.path("tally-openapi") + ".sqlite", readerCount: 1)
        let application = try TallyApplication(database: database, publicDirectory: root.appendingPathComponent("Public").path, logger: Logger(label: "test"))
        let served = Set(application.router.routeList.map { "\($0.method.rawValue) \($0.pattern)" })
        #expect(documented == served, "only documented: \(documented.subtracting(served).sorted()); only served: \(served.subtracting(documented).sorted())")
        application.stop()
    }
}
