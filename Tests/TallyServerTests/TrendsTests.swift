import Foundation
import TallyTestSupport
import Testing
@testable import TallyServer

/// The researcher's trends per day, on a constructed case whose answer is known: two labelers
/// who agree on one prompt and disagree on a gold one.
@Suite("Labeling trends")
struct TrendsTests {
    @Test func trendsCountLabelsLabelersTimeAndAgreementPerDay() throws {
        let app = try TallyTestServer()
        let ada = try signIn(app.port, "ada"), rita = try signIn(app.port, "rita")
        let write = ["Cookie": rita.cookie, "X-CSRF-Token": rita.csrf]
        #expect(try call(app.port, "POST", "/api/users", headers: ["Cookie": ada.cookie, "X-CSRF-Token": ada.csrf],
                         json: #"{"username": "lars", "role": "labeler", "password": "\#(TallyTestServer.password)"}"#).status == 201)
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: write,
                                            json: #"{"name": "Trends", "rankingSize": 3, "overlap": 2, "ratingsRequired": false}"#).json["id"] as? Int)
        let lines = (1...2).map { #"{"prompt": "Question \#($0)?", "candidates": [{"text": "a", "model": "m"}, {"text": "b", "model": "n"}, {"text": "c", "model": "o"}]}"# }
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: write, rawBody: lines.joined(separator: "\n")).status == 200)
        let prompts = try app.database.read { try $0.query("SELECT id FROM prompts WHERE project_id = ? ORDER BY id", [project]).map { try $0.int("id") } }
        let candidates = try prompts.map { prompt in
            try app.database.read { try $0.query("SELECT id FROM candidates WHERE prompt_id = ? ORDER BY id", [prompt]).map { try $0.int("id") } }
        }
        let gold = zip(candidates[1], [1, 2, 3]).map { #"{"candidateId": \#($0), "rank": \#($1)}"# }.joined(separator: ", ")
        #expect(try call(app.port, "PUT", "/api/prompts/\(prompts[1])/gold", headers: write, json: #"{"entries": [\#(gold)]}"#).status == 200)

        func rank(_ session: (cookie: String, csrf: String), _ index: Int, _ ranks: [Int], seconds: Int) throws {
            let entries = zip(candidates[index], ranks).map { #"{"candidateId": \#($0), "rank": \#($1)}"# }.joined(separator: ", ")
            let response = try call(app.port, "POST", "/api/prompts/\(prompts[index])/rankings", headers: ["Cookie": session.cookie, "X-CSRF-Token": session.csrf],
                                    json: #"{"entries": [\#(entries)], "shownOrder": \#(candidates[index]), "secondsSpent": \#(seconds)}"#)
            #expect(response.status == 201, "\(response.body)")
        }
        let lena = try signIn(app.port, "lena"), lars = try signIn(app.port, "lars")
        try rank(lena, 0, [1, 2, 3], seconds: 10)
        try rank(lars, 0, [1, 2, 3], seconds: 20)
        try rank(lena, 1, [1, 2, 3], seconds: 30)
        try rank(lars, 1, [3, 2, 1], seconds: 40)
        #expect(try call(app.port, "POST", "/api/prompts/\(prompts[0])/demonstrations", headers: ["Cookie": lena.cookie, "X-CSRF-Token": lena.csrf],
                         json: #"{"text": "An answer."}"#).status == 201)

        let trends = try call(app.port, "GET", "/api/projects/\(project)/trends", headers: ["Cookie": rita.cookie])
        let days = try #require(trends.json["days"] as? [[String: Any]], "\(trends.body)")
        #expect(days.count == 1)
        let today = try #require(days.first)
        #expect(today["rankings"] as? Int == 4 && today["demonstrations"] as? Int == 1 && today["labelers"] as? Int == 2, "\(today)")
        #expect(today["medianSecondsPerRanking"] as? Double == 25, "\(today)")
        // Agreeing on all 3 pairs of the first prompt, on none of the gold one's: 3 of 6.
        #expect(today["agreement"] as? Double == 0.5 && today["agreementPairs"] as? Int == 6, "\(today)")
        // Against gold: lena 3 of 3, lars 0 of 3.
        #expect(today["goldAgreement"] as? Double == 0.5 && today["goldPairs"] as? Int == 6, "\(today)")
        #expect(try call(app.port, "GET", "/api/projects/\(project)/trends?day=1", headers: ["Cookie": rita.cookie]).status == 400)
        #expect(try call(app.port, "GET", "/api/projects/999/trends", headers: ["Cookie": rita.cookie]).status == 404)
    }
}
