import Cryptography
import Foundation
import Labeling
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

    /// The route-by-role table, read from the document: every operation says who may call it
    /// (`x-tally-access`: `public`, `url-secret`, or the roles, `applicant` for a labeler still in
    /// screening), so a route added to the server and the document is checked here at once.
    /// Anonymous calls to a protected route answer 401; a signed-in user of any other role 403
    /// `forbidden`, before the route reads its body or its ids; an allowed role gets past both.
    @Test func everyDocumentedRouteAdmitsOnlyItsRoles() throws {
        let app = try TallyTestServer()
        try app.database.write { database in
            _ = try UserRepository().create(username: "abby", role: .labeler, status: .applicant,
                                            passwordHash: PasswordHasher(iterations: 1000).hash(TallyTestServer.password), in: database)
        }
        var sessions: [String: (cookie: String, csrf: String)] = [:]
        for (identity, username) in [("admin", "ada"), ("researcher", "rita"), ("labeler", "lena"), ("applicant", "abby")] {
            sessions[identity] = try signIn(app.port, username)
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("Docs/openapi.yaml"))) as? [String: Any] ?? [:]
        var checked = 0
        for (path, operations) in (document["paths"] as? [String: [String: Any]] ?? [:]).sorted(by: { $0.key < $1.key }) {
            let target = path.replacingOccurrences(of: "{format}", with: "comparisons").replacingOccurrences(of: "{name}", with: "config.json")
                .replacingOccurrences(of: "{token}", with: "not-a-secret").replacingOccurrences(of: "{id}", with: "1")
            for (method, operation) in operations.sorted(by: { $0.key < $1.key }) {
                let name = "\(method.uppercased()) \(path)"
                let access = (operation as? [String: Any])?["x-tally-access"]
                let body = ["get", "delete"].contains(method) ? nil : "{}"
                func send(_ session: (cookie: String, csrf: String)?) throws -> APIResponse {
                    try call(app.port, method.uppercased(), target, headers: session.map { ["Cookie": $0.cookie, "X-CSRF-Token": $0.csrf] } ?? [:], json: body)
                }
                if let access = access as? String {
                    #expect(["public", "url-secret"].contains(access), "\(name): x-tally-access '\(access)'")
                    let anonymous = try send(nil)
                    // A URL whose secret is not a live endpoint's is not found; a public route lets anyone in.
                    let expected = access == "url-secret" ? anonymous.status == 404 : ![401, 403].contains(anonymous.status)
                    #expect(expected, "\(name) anonymous: \(anonymous.status) \(anonymous.body)")
                    checked += 1
                    continue
                }
                guard let allowed = access as? [String], !allowed.isEmpty, Set(allowed).isSubset(of: sessions.keys) else {
                    Issue.record("\(name) does not say who may call it (x-tally-access)")
                    continue
                }
                #expect(try send(nil).status == 401, "\(name) anonymous")
                for (identity, session) in sessions.sorted(by: { $0.key < $1.key }) {
                    // Signing out would end the session the other rows use; its roles are all of them.
                    if method == "delete" && path == "/api/session" { continue }
                    let response = try send(session)
                    if allowed.contains(identity) {
                        #expect(![401, 403].contains(response.status), "\(identity) \(name): \(response.status) \(response.body)")
                    } else {
                        #expect(response.status == 403 && response.errorCode == "forbidden", "\(identity) \(name): \(response.status) \(response.body)")
                    }
                }
                checked += 1
            }
        }
        #expect(checked >= 74, "only \(checked) operations documented")
    }

    /// Schemathesis (pinned in Tests/requirements.txt) against the document, as a researcher and
    /// as a labeler, on a project with prompts: generated valid and invalid requests to every
    /// operation, each answer no 5xx, of a status, content type and schema the document lists.
    /// Fixed seed and bounded examples, so a run takes the same cases every time. Signing out is
    /// left out (it would end the session the run uses).
    @Test func schemathesisFindsNoAnswerTheDocumentDoesNotAllow() throws {
        // The rest of the suite runs beside this test on two cores, and a handler thread can
        // wait seconds for the CPU: the readiness probe then rightly answers 503 "overloaded",
        // which is the process's load, not the document's. Readiness has its own tests.
        let app = try TallyTestServer(configureApplication: { $0.readinessMaximumWait = 600 })
        let rita = try signIn(app.port, "rita")
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: ["Cookie": rita.cookie, "X-CSRF-Token": rita.csrf],
                                            json: #"{"name": "Schema", "rankingSize": 4}"#).json["id"] as? Int)
        _ = try call(app.port, "POST", "/api/projects/\(project)/imports/prompts?file=seed.jsonl",
                     headers: ["Cookie": rita.cookie, "X-CSRF-Token": rita.csrf, "Content-Type": "application/jsonl"], rawBody: LabelingTests.validImport)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for username in ["rita", "lena"] {
            let session = try signIn(app.port, username)
            let run = try runChecker("check_openapi_conformance.py", besides: #filePath,
                                     ["http://127.0.0.1:\(app.port)", root.appendingPathComponent("Docs/openapi.yaml").path, session.cookie, session.csrf,
                                      "\(Self.schemathesisExamples)", "19", "^/api/session$"])
            let report = String(decoding: run.output, as: UTF8.self)
            #expect(run.status == 0, "as \(username): \(report.suffix(6000)) \(run.errors.suffix(2000))")
        }
    }

    /// Examples per operation and per phase: enough to reach every validator, bounded so the run
    /// stays within the suite's budget on two cores.
    static let schemathesisExamples = 20
}
