import Foundation
import TallyTestSupport
import Testing
@testable import TallyServer

/// The researcher's data browser over HTTP: prompts searched and filtered, one prompt opened
/// with every ranking, demonstration and the agreement of its rankers.
@Suite("The data browser over HTTP", .serialized)
struct PromptBrowserTests {
    @Test func promptsAreSearchedFilteredPagedAndOpenedWithTheirLabels() throws {
        let app = try TallyTestServer()
        let researcher = try signIn(app.port, "rita"), lena = try signIn(app.port, "lena"), admin = try signIn(app.port, "ada")
        let write = ["Cookie": researcher.cookie, "X-CSRF-Token": researcher.csrf]
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: write,
                                            json: #"{"name": "Browse", "overlap": 2, "ratingsRequired": false}"#).json["id"] as? Int)
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: write, rawBody: LabelingTests.validImport).status == 200)
        #expect(try call(app.port, "POST", "/api/users", headers: ["Cookie": admin.cookie, "X-CSRF-Token": admin.csrf],
                         json: #"{"username": "leo", "role": "labeler", "password": "a long enough one"}"#).status == 201)
        let leo = try signIn(app.port, "leo", password: "a long enough one")
        func rank(_ session: (cookie: String, csrf: String), _ ranks: [Int]) throws -> Int {
            let entries = zip(1...4, ranks).map { #"{"candidateId": \#($0), "rank": \#($1)}"# }.joined(separator: ", ")
            return try call(app.port, "POST", "/api/prompts/1/rankings", headers: ["Cookie": session.cookie, "X-CSRF-Token": session.csrf],
                            json: #"{"entries": [\#(entries)], "shownOrder": [1, 2, 3, 4], "comment": "close call"}"#).status
        }
        #expect(try rank(lena, [1, 2, 3, 4]) == 201)
        #expect(try call(app.port, "POST", "/api/prompts/1/demonstrations", headers: ["Cookie": lena.cookie, "X-CSRF-Token": lena.csrf],
                         json: #"{"text": "2, 3 and 5."}"#).status == 201)

        func ids(_ query: String) throws -> [Int] {
            let page = try call(app.port, "GET", "/api/projects/\(project)/prompts\(query)", headers: ["Cookie": researcher.cookie])
            #expect(page.status == 200, "\(query): \(page.body)")
            return (page.json["prompts"] as? [[String: Any]] ?? []).map { $0["id"] as! Int }
        }
        #expect(try ids("") == [1, 2, 3])
        #expect(try ids("?search=PRIMES") == [1] && ids("?search=2") == [2] && ids("?search=%232") == [2], "text, case-insensitive, or an id")
        #expect(try ids("?category=open_qa") == [1] && ids("?split=test") == [2] && ids("?source=imported") == [1, 2, 3] && ids("?source=api") == [])
        #expect(try ids("?status=open") == [1, 2] && ids("?status=waiting-for-candidates") == [3] && ids("?status=complete") == [])
        let lenaID = try #require(try app.database.read { try $0.queryScalarInt("SELECT id FROM users WHERE username = 'lena'") })
        #expect(try ids("?labeler=\(lenaID)") == [1] && ids("?gold=true") == [])
        let first = try call(app.port, "GET", "/api/projects/\(project)/prompts?limit=2", headers: ["Cookie": researcher.cookie])
        #expect(first.json["next"] as? Int == 2)
        #expect(try ids("?limit=2&after=2") == [3])
        let last = try call(app.port, "GET", "/api/projects/\(project)/prompts?limit=2&after=2", headers: ["Cookie": researcher.cookie])
        #expect(last.json["next"] == nil, "the last page has no next")

        for (query, message) in [("?status=done", "'status' must be one of"), ("?colour=red", "'colour' is not one the prompt list takes"),
                                 ("?limit=0", "'limit' must be from 1 to 200"), ("?split=dev", "'split' must be train"), ("?gold=yes", "'gold' must be true or false"),
                                 ("?split=test&split=train", "'split' is given more than once")] {
            let refused = try call(app.port, "GET", "/api/projects/\(project)/prompts\(query)", headers: ["Cookie": researcher.cookie])
            #expect(refused.status == 400 && refused.body.contains(message), "\(query): \(refused.body)")
        }
        #expect(try call(app.port, "GET", "/api/projects/\(project)/prompts", headers: ["Cookie": lena.cookie]).status == 403)
        #expect(try call(app.port, "GET", "/api/prompts/1/labels", headers: ["Cookie": lena.cookie]).status == 403)
        #expect(try call(app.port, "GET", "/api/projects/999/prompts", headers: ["Cookie": researcher.cookie]).status == 404)
        #expect(try call(app.port, "GET", "/api/prompts/999/labels", headers: ["Cookie": researcher.cookie]).status == 404)

        // A second labeler disagrees on one of the six pairs: the prompt is complete at overlap 2.
        #expect(try rank(leo, [1, 2, 4, 3]) == 201)
        #expect(try ids("?status=complete") == [1])
        let labels = try call(app.port, "GET", "/api/prompts/1/labels", headers: ["Cookie": researcher.cookie])
        #expect(labels.status == 200, "\(labels.body)")
        let rankings = try #require(labels.json["rankings"] as? [[String: Any]])
        #expect(rankings.map { ($0["labeler"] as? [String: Any])?["username"] as? String } == ["lena", "leo"])
        #expect(rankings[0]["comment"] as? String == "close call" && (rankings[0]["entries"] as? [[String: Any]])?.count == 4)
        let demonstrations = try #require(labels.json["demonstrations"] as? [[String: Any]])
        #expect(demonstrations.map { $0["text"] as? String } == ["2, 3 and 5."])
        #expect((labels.json["summary"] as? [String: Any])?["status"] as? String == "complete")
        #expect((labels.json["candidates"] as? [Any])?.count == 4)
        #expect(labels.json["agreementPairs"] as? Int == 6)
        #expect(abs((labels.json["agreement"] as? Double ?? 0) - 5.0 / 6.0) < 1e-9)
    }
}
