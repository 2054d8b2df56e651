import Foundation
import Testing
@testable import TallyServer

@Suite("Ranking queue and the embedded demo", .serialized)
struct QueueAndDemoTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func demoLoadsRealDataOnceWithAccountsForEachRole() throws {
        let app = try TallyTestServer()
        let loader = DemoLoader(passwordHasher: .init(iterations: 1000))
        let first = try loader.load(into: app.database, demoDirectory: Self.root.appendingPathComponent("Demo").path)
        #expect(first.accountsCreated == 4)
        #expect(first.imported.promptsCreated == 60 && first.imported.candidatesAdded == 240)
        let again = try loader.load(into: app.database, demoDirectory: Self.root.appendingPathComponent("Demo").path)
        #expect(again.accountsCreated == 0 && again.imported.promptsCreated == 0 && again.projectID == first.projectID)
        #expect(first.screeningTestCreated && !again.screeningTestCreated)
        for (username, _) in DemoLoader.accounts { _ = try signIn(app.port, username, password: DemoLoader.password) }
        // The demo opens registration on its screening test: 3 flagging, 2 ranking, 2 demonstration, 3 self-assessment items.
        let policy = try call(app.port, "GET", "/api/registration")
        #expect(policy.json["mode"] as? String == "open" && policy.json["screeningTestId"] as? Int != nil)
        let applied = try call(app.port, "POST", "/api/applicants", json: #"{"username": "trial", "password": "long enough"}"#)
        let cookie = try #require(applied.header("Set-Cookie")).split(separator: ";")[0]
        let screening = try call(app.port, "GET", "/api/screening", headers: ["Cookie": String(cookie)])
        let kinds = ((screening.json["test"] as? [String: Any])?["items"] as? [[String: Any]] ?? []).map { $0["kind"] as? String ?? "" }
        #expect(kinds == ["flagging", "flagging", "flagging", "ranking", "ranking", "demonstration", "demonstration",
                          "self_assessment", "self_assessment", "self_assessment"], "\(screening.body)")
    }

    @Test func queueServesUnrankedPromptsShuffledAndRespectsOverlap() throws {
        let app = try TallyTestServer()
        let loader = DemoLoader(passwordHasher: .init(iterations: 1000))
        let project = try loader.load(into: app.database, demoDirectory: Self.root.appendingPathComponent("Demo").path).projectID
        let lena = try signIn(app.port, "lena")
        let first = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lena.cookie])
        #expect(first.status == 200)
        #expect(first.json["remaining"] as? Int == 60)
        let prompt = try #require(first.json["prompt"] as? [String: Any])
        let shown = try #require(prompt["candidates"] as? [[String: Any]]).map { $0["id"] as! Int }
        #expect(shown.count == 4)
        // The same task shows the same order on reload.
        let reload = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lena.cookie])
        #expect(((reload.json["prompt"] as? [String: Any])?["candidates"] as? [[String: Any]])?.map { $0["id"] as! Int } == shown)
        let promptID = try #require(prompt["id"] as? Int)
        let entries = shown.enumerated().map { #"{"candidateId": \#($1), "rank": \#($0 + 1), "rating": \#(7 - $0)}"# }.joined(separator: ",")
        let submitted = try call(app.port, "POST", "/api/prompts/\(promptID)/rankings", headers: ["Cookie": lena.cookie, "X-CSRF-Token": lena.csrf],
                                 json: #"{"entries": [\#(entries)], "shownOrder": \#(shown)}"#)
        #expect(submitted.status == 201)
        let next = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lena.cookie])
        #expect(next.json["remaining"] as? Int == 59)
        #expect((next.json["prompt"] as? [String: Any])?["id"] as? Int != promptID)
        // Overlap 1: the ranked prompt is done for every labeler, not only for lena, and the
        // prompt lena now holds is not offered to anyone else.
        let other = try signIn(app.port, "demo-labeler", password: DemoLoader.password)
        let othersTask = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": other.cookie])
        #expect(othersTask.json["remaining"] as? Int == 58)
        #expect((othersTask.json["prompt"] as? [String: Any])?["id"] as? Int != (next.json["prompt"] as? [String: Any])?["id"] as? Int)
        #expect(try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": (try signIn(app.port, "rita")).cookie]).status == 403)
    }

    @Test func pagesEscapeTextAndLoadOnlyOwnScripts() throws {
        // The UI sets every server-provided text with textContent; no page uses innerHTML or
        // inline script, which the Content-Security-Policy would block anyway.
        let folder = Self.root.appendingPathComponent("Public").path
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            let text = try String(contentsOfFile: folder + "/" + name, encoding: .utf8)
            #expect(!text.contains("innerHTML") && !text.contains("outerHTML") && !text.contains("insertAdjacentHTML") && !text.contains("document.write"), "\(name)")
            if name.hasSuffix(".html") {
                #expect(!text.contains("<script>") && !text.contains("onclick="), "\(name) has inline script")
            }
        }
    }
}

@Suite("Project statistics over HTTP", .serialized)
struct StatisticsTests {
    @Test func countsRankingsPerDayAndPerLabeler() throws {
        let app = try TallyTestServer()
        let project = try DemoLoader(passwordHasher: .init(iterations: 1000))
            .load(into: app.database, demoDirectory: QueueAndDemoTests.root.appendingPathComponent("Demo").path).projectID
        let lena = try signIn(app.port, "lena")
        for _ in 0..<3 {
            let task = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lena.cookie])
            let prompt = try #require(task.json["prompt"] as? [String: Any])
            let ids = try #require(prompt["candidates"] as? [[String: Any]]).map { $0["id"] as! Int }
            let entries = ids.enumerated().map { #"{"candidateId": \#($1), "rank": \#($0 + 1), "rating": \#(7 - $0)}"# }.joined(separator: ",")
            #expect(try call(app.port, "POST", "/api/prompts/\(prompt["id"] as! Int)/rankings", headers: ["Cookie": lena.cookie, "X-CSRF-Token": lena.csrf],
                             json: #"{"entries": [\#(entries)], "shownOrder": \#(ids), "secondsSpent": 20}"#).status == 201)
        }
        let rita = try signIn(app.port, "rita")
        let statistics = try call(app.port, "GET", "/api/projects/\(project)/statistics", headers: ["Cookie": rita.cookie])
        #expect(statistics.status == 200)
        #expect(statistics.json["prompts"] as? Int == 60 && statistics.json["candidates"] as? Int == 240 && statistics.json["rankings"] as? Int == 3)
        #expect(statistics.json["promptsComplete"] as? Int == 3 && statistics.json["promptsOpen"] as? Int == 57)
        #expect((statistics.json["labelsPerDay"] as? [[String: Any]])?.first?["rankings"] as? Int == 3)
        let labeler = try #require((statistics.json["labelers"] as? [[String: Any]])?.first)
        #expect(labeler["username"] as? String == "lena" && labeler["rankings"] as? Int == 3 && labeler["averageSeconds"] as? Double == 20)
        #expect(try call(app.port, "GET", "/api/projects/\(project)/statistics", headers: ["Cookie": lena.cookie]).status == 403)
    }
}
