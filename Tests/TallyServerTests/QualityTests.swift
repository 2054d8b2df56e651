import Foundation
import Testing
@testable import Labeling
@testable import TallyServer

/// Labeler quality over HTTP: the report's numbers for rankings designed by hand, admins moving
/// labelers between groups and suspending them, and exports filtered by agreement.
@Suite("Labeler quality over HTTP", .serialized)
struct QualityTests {
    typealias Session = (cookie: String, csrf: String)
    private func writeHeaders(_ session: Session) -> [String: String] { ["Cookie": session.cookie, "X-CSRF-Token": session.csrf] }

    /// Four prompts of three candidates (a, b, c). lena and hana rank a > b > c everywhere; lars
    /// agrees on the first two prompts and ranks c > b > a on the others. hana is held out.
    private func setUp() throws -> (TallyTestServer, project: Int, admin: Session, researcher: Session, ids: [String: Int]) {
        let app = try TallyTestServer()
        let admin = try signIn(app.port, "ada")
        var ids: [String: Int] = [:]
        for name in ["lars", "hana"] {
            let created = try call(app.port, "POST", "/api/users", headers: writeHeaders(admin),
                                   json: #"{"username": "\#(name)", "role": "labeler", "password": "\#(TallyTestServer.password)"}"#)
            ids[name] = created.json["id"] as? Int
        }
        ids["lena"] = try app.database.read { try $0.queryScalarInt("SELECT id FROM users WHERE username = 'lena'") }
        let moved = try call(app.port, "PATCH", "/api/users/\(ids["hana"]!)", headers: writeHeaders(admin), json: #"{"labelerGroup": "held_out", "note": "evaluation only"}"#)
        #expect(moved.status == 200 && moved.json["labelerGroup"] as? String == "held_out", "\(moved.body)")
        let researcher = try signIn(app.port, "rita")
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: writeHeaders(researcher),
                                            json: #"{"name": "Quality", "rankingSize": 3, "overlap": 3}"#).json["id"] as? Int)
        let lines = (1...4).map { #"{"prompt": "Question \#($0)?", "candidates": [{"text": "a\#($0)", "model": "m"}, {"text": "b\#($0)", "model": "m"}, {"text": "c\#($0)", "model": "m"}]}"# }
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: writeHeaders(researcher), rawBody: lines.joined(separator: "\n")).status == 200)
        let prompts = try app.database.read { try $0.query("SELECT id FROM prompts WHERE project_id = ? ORDER BY id", [project]).map { try $0.int("id") } }
        for name in ["lena", "lars", "hana"] {
            let session = try signIn(app.port, name)
            for (index, prompt) in prompts.enumerated() {
                let candidates = try app.database.read { try $0.query("SELECT id FROM candidates WHERE prompt_id = ? ORDER BY id", [prompt]).map { try $0.int("id") } }
                let reversed = name == "lars" && index >= 2
                let entries = candidates.enumerated().map { position, candidate in
                    let rank = reversed ? 3 - position : position + 1
                    let flags = name == "hana" && index == 0 && position == 2 ? #"["hallucination"]"# : "[]"
                    return #"{"candidateId": \#(candidate), "rank": \#(rank), "rating": \#(7 - 3 * (rank - 1)), "flags": \#(flags)}"#
                }.joined(separator: ",")
                let ranked = try call(app.port, "POST", "/api/prompts/\(prompt)/rankings", headers: writeHeaders(session),
                                      json: #"{"entries": [\#(entries)], "shownOrder": \#(candidates), "secondsSpent": 10}"#)
                #expect(ranked.status == 201, "\(ranked.body)")
            }
        }
        return (app, project, admin, researcher, ids)
    }

    private func rate(_ value: Any?) -> (Double, Int)? {
        guard let rate = value as? [String: Any], let estimate = rate["estimate"] as? Double, let pairs = rate["pairs"] as? Int else { return nil }
        return (estimate, pairs)
    }

    @Test func reportMatchesHandCountedAgreement() throws {
        let (app, project, _, researcher, ids) = try setUp()
        let response = try call(app.port, "GET", "/api/projects/\(project)/quality", headers: ["Cookie": researcher.cookie])
        #expect(response.status == 200, "\(response.body)")
        let report = response.json
        // lena-lars 6 of 12 pairs, lena-hana 12 of 12, lars-hana 6 of 12.
        #expect(rate(report["agreement"]).map { abs($0.0 - 24.0 / 36) < 1e-12 && $0.1 == 36 } == true, "\(report["agreement"] ?? "")")
        #expect(rate(report["trainingAgreement"]).map { $0.0 == 0.5 && $0.1 == 12 } == true)
        #expect(report["heldOutAgreement"] == nil, "one held-out labeler has nobody of their group to agree with: left out")
        #expect(rate(report["betweenGroupsAgreement"]).map { $0.0 == 0.75 && $0.1 == 24 } == true)
        // tau: +1 on 8 pairs of rankings, -1 on 4.
        #expect(abs((report["kendallTau"] as! Double) - 1.0 / 3) < 1e-12)
        let interval = try #require((report["agreement"] as? [String: Any]).map { ($0["lower"] as! Double, $0["upper"] as! Double) })
        #expect(interval.0 <= 24.0 / 36 && 24.0 / 36 <= interval.1 && interval.0 < interval.1)

        let labelers = try #require(report["labelers"] as? [[String: Any]])
        func labeler(_ name: String) -> [String: Any] { labelers.first { $0["labelerId"] as? Int == ids[name] }! }
        #expect(rate(labeler("lena")["agreement"]).map { $0.0 == 0.75 && $0.1 == 24 } == true)
        #expect(rate(labeler("lars")["agreement"]).map { $0.0 == 0.5 && $0.1 == 24 } == true)
        #expect(labeler("lars")["needsReview"] as? Bool == true && labeler("lena")["needsReview"] as? Bool == false)
        #expect(labeler("hana")["labelerGroup"] as? String == "held_out")
        let bias = try #require(labeler("lars")["positionBias"] as? [String: Any])
        #expect(bias["firstShownRankedFirst"] as? Double == 0.5 && abs((bias["chance"] as! Double) - 1.0 / 3) < 1e-12)
        #expect(labeler("lena")["averageSeconds"] as? Double == 10)

        // Krippendorff's alpha from the same units, computed by the tested function.
        var ratingUnits: [[Double]] = [], flagUnits: [[Double]] = []
        for prompt in 0..<4 {
            for position in 0..<3 {
                let lenaRank = position + 1, larsRank = prompt >= 2 ? 3 - position : position + 1
                ratingUnits.append([lenaRank, larsRank, lenaRank].map { Double(7 - 3 * ($0 - 1)) })
                flagUnits.append([0, 0, prompt == 0 && position == 2 ? 1 : 0])
            }
        }
        #expect(abs((report["ratingAlpha"] as! Double) - Agreement.krippendorffAlpha(units: ratingUnits, level: .interval)!) < 1e-12)
        let flags = try #require(report["flagAlpha"] as? [[String: Any]])
        let hallucination = flags.first { $0["flag"] as? String == "hallucination" }?["alpha"] as? Double
        #expect(hallucination != nil && abs(hallucination! - Agreement.krippendorffAlpha(units: flagUnits, level: .nominal)!) < 1e-12)
        #expect(flags.first { $0["flag"] as? String == "harmful_advice" }.map { $0["alpha"] == nil } == true, "never flagged: undefined, left out")

        #expect(try call(app.port, "GET", "/api/projects/\(project)/quality?reviewBelow=2", headers: ["Cookie": researcher.cookie]).status == 400)
        #expect(try call(app.port, "GET", "/api/projects/\(project)/quality", headers: ["Cookie": (try signIn(app.port, "lena")).cookie]).status == 403)
    }

    @Test func exportsKeepOnlyLabelersWithEnoughAgreement() throws {
        let (app, project, _, researcher, ids) = try setUp()
        let path = "/api/projects/\(project)/exports/comparisons?minimumAgreement=0.7"
        let body = try call(app.port, "GET", path, headers: ["Cookie": researcher.cookie]).body
        let labelers = Set(body.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["labeler_id"] as? Int
        })
        #expect(labelers == [ids["lena"]!, ids["hana"]!])
        #expect(body.split(separator: "\n").count == 24, "eight rankings of three pairs")
        let manifest = try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons/manifest?minimumAgreement=0.7", headers: ["Cookie": researcher.cookie])
        let filter = try #require(manifest.json["filter"] as? [String: Any])
        #expect(filter["minimumAgreement"] as? Double == 0.7 && (filter["labelerIds"] as? [Int]).map(Set.init) == [ids["lena"]!, ids["hana"]!])
        #expect(try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons?minimumAgreement=high", headers: ["Cookie": researcher.cookie]).status == 400)
    }

    @Test func adminsSuspendReactivateAndRegroupLabelersWithAnAuditTrail() throws {
        let (app, project, admin, researcher, ids) = try setUp()
        let lars = try signIn(app.port, "lars")
        let user = "/api/users/\(ids["lars"]!)"
        #expect(try call(app.port, "PATCH", user, headers: writeHeaders(researcher), json: #"{"status": "suspended"}"#).status == 403)
        #expect(try call(app.port, "PATCH", user, headers: writeHeaders(admin), json: #"{"status": "asleep"}"#).status == 400)
        #expect(try call(app.port, "PATCH", user, headers: writeHeaders(admin), json: #"{}"#).status == 400)
        #expect(try call(app.port, "PATCH", "/api/users/999", headers: writeHeaders(admin), json: #"{"status": "active"}"#).status == 404)
        let adminID = try app.database.read { try $0.queryScalarInt("SELECT id FROM users WHERE username = 'ada'") }!
        #expect(try call(app.port, "PATCH", "/api/users/\(adminID)", headers: writeHeaders(admin), json: #"{"status": "suspended"}"#).status == 409)

        #expect(try call(app.port, "PATCH", user, headers: writeHeaders(admin), json: #"{"status": "suspended", "note": "agreement 50%"}"#).status == 200)
        #expect(try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lars.cookie]).status == 403, "suspended at once")
        #expect(try call(app.port, "PATCH", user, headers: writeHeaders(admin), json: #"{"status": "active"}"#).status == 200)
        #expect(try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lars.cookie]).status == 200)
        let audit = try app.database.read { try $0.query("SELECT detail FROM audit_log WHERE action = 'user.update' AND subject = ? ORDER BY id", ["user:\(ids["lars"]!)"]).map { try $0.string("detail") } }
        #expect(audit == ["status=suspended note=agreement 50%", "status=active"])
    }
}
