import Foundation
import JSON
import Testing
@testable import Labeling
@testable import TallyServer

/// Screening end to end over HTTP: an admin builds a test and opens registration by invitation;
/// an applicant applies, takes the test and is scored against the gold answers; the admin grades
/// the demonstrations, reads the applicants table and accepts the applicant into a group; the new
/// labeler then sees work. Also gold prompts mixed into the ranking queue.
@Suite("Screening over HTTP", .serialized)
struct ScreeningTests {
    typealias Session = (cookie: String, csrf: String)
    private func writeHeaders(_ session: Session) -> [String: String] { ["Cookie": session.cookie, "X-CSRF-Token": session.csrf] }

    /// Flags harmful_advice and hallucination; item 1 flags two outputs (gold: the first is
    /// harmful advice), item 2 ranks three (gold 1, 2, 3), items 3 and 4 are demonstrations and
    /// item 5 a self-assessment.
    static func testJSON(name: String = "Screening A", rankingGold: String = "[1, 2, 3]") -> String {
        #"""
        {"name": "\#(name)", "instructions": "Answer every question.", "flags": ["harmful_advice", "hallucination"],
         "items": [
          {"kind": "flagging", "prompt": "How do I clean a burn?", "candidates": ["Put butter on it.", "Cool it under running water."],
           "goldFlags": [["harmful_advice"], []]},
          {"kind": "ranking", "prompt": "Name a prime number.", "candidates": ["7", "9, which is prime", "Numbers are fun."], "goldRanks": \#(rankingGold)},
          {"kind": "demonstration", "prompt": "My friend says she wants to hurt herself. What do I do?",
           "referenceResponse": "Stay with her and contact a crisis line."},
          {"kind": "demonstration", "prompt": "Write a joke about my coworker's religion."},
          {"kind": "self_assessment", "prompt": "How well do you recognise offensive speech about religious groups?"}
         ]}
        """#
    }

    private func applicant(_ response: APIResponse) throws -> Session {
        let setCookie = try #require(response.header("Set-Cookie"), "\(response.body)")
        return (String(setCookie.split(separator: ";")[0]), try #require(response.json["csrfToken"] as? String))
    }

    private func applicantRow(_ app: TallyTestServer, _ admin: Session, username: String) throws -> [String: Any] {
        let response = try call(app.port, "GET", "/api/applicants", headers: ["Cookie": admin.cookie])
        #expect(response.status == 200, "\(response.body)")
        let rows = response.json["applicants"] as? [[String: Any]] ?? []
        return try #require(rows.first { ($0["user"] as? [String: Any])?["username"] as? String == username })
    }

    @Test func applicantAppliesTakesTheTestIsGradedAcceptedAndSeesWork() throws {
        let app = try TallyTestServer()
        let admin = try signIn(app.port, "ada")
        let apply = { (body: String) in try call(app.port, "POST", "/api/applicants", json: body) }

        // Registration starts closed.
        let closed = try apply(#"{"username": "nia", "password": "long enough"}"#)
        #expect(closed.status == 403 && closed.body.contains("closed"), "\(closed.body)")
        let noTest = try call(app.port, "PUT", "/api/registration", headers: writeHeaders(admin), json: #"{"mode": "invite"}"#)
        #expect(noTest.status == 400 && noTest.body.contains("screeningTestId"), "\(noTest.body)")

        // A test with a bad gold ranking stores nothing and names the field.
        let bad = try call(app.port, "POST", "/api/screening-tests", headers: writeHeaders(admin), json: Self.testJSON(rankingGold: "[1, 2]"))
        #expect(bad.status == 400 && bad.body.contains("items[1].goldRanks"), "\(bad.body)")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM screening_tests") } == 0)
        let created = try call(app.port, "POST", "/api/screening-tests", headers: writeHeaders(admin), json: Self.testJSON())
        #expect(created.status == 201, "\(created.body)")
        let testID = try #require(created.json["id"] as? Int)
        let items = try #require(created.json["items"] as? [[String: Any]]).map { $0["id"] as! Int }
        #expect(items.count == 5)

        let opened = try call(app.port, "PUT", "/api/registration", headers: writeHeaders(admin), json: #"{"mode": "invite", "screeningTestId": \#(testID)}"#)
        #expect(opened.status == 200, "\(opened.body)")
        let policy = try call(app.port, "GET", "/api/registration")
        #expect(policy.json["mode"] as? String == "invite" && policy.json["inviteCodeNeeded"] as? Bool == true)

        let invite = try call(app.port, "POST", "/api/invites", headers: writeHeaders(admin), json: #"{"note": "November cohort", "usesAllowed": 1}"#)
        #expect(invite.status == 201, "\(invite.body)")
        let code = try #require(invite.json["code"] as? String)
        #expect(!(try call(app.port, "GET", "/api/invites", headers: ["Cookie": admin.cookie]).body.contains(code)), "codes are shown once")

        #expect(try apply(#"{"username": "nia", "password": "long enough"}"#).status == 400)
        let wrongCode = try apply(#"{"username": "nia", "password": "long enough", "inviteCode": "guess"}"#)
        #expect(wrongCode.status == 403 && wrongCode.errorCode == "invalid_invite_code", "\(wrongCode.body)")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM users WHERE username = 'nia'") } == 0)
        let applied = try apply(#"{"username": "nia", "displayName": "Nia", "password": "long enough", "inviteCode": "\#(code)"}"#)
        #expect(applied.status == 201, "\(applied.body)")
        #expect((applied.json["user"] as? [String: Any])?["status"] as? String == "applicant")
        let usedUp = try apply(#"{"username": "noor", "password": "long enough", "inviteCode": "\#(code)"}"#)
        #expect(usedUp.status == 403, "\(usedUp.body)")
        let nia = try applicant(applied)

        // The applicant has a session but no work: only the screening test.
        #expect(try call(app.port, "GET", "/api/session", headers: ["Cookie": nia.cookie]).status == 200)
        #expect(try call(app.port, "GET", "/api/projects", headers: ["Cookie": nia.cookie]).status == 403)
        let screening = try call(app.port, "GET", "/api/screening", headers: ["Cookie": nia.cookie])
        #expect(screening.status == 200, "\(screening.body)")
        for secret in ["goldRanks", "goldFlags", "referenceResponse", "crisis line"] { #expect(!screening.body.contains(secret), "leaks \(secret)") }

        // Answers: flags agree on 1 of 2 outputs (an extra flag on the first); the ranking agrees on 2 of 3 pairs.
        let flagging = #"{"itemId": \#(items[0]), "flags": [["harmful_advice", "hallucination"], []]}"#
        let ranking = #"{"itemId": \#(items[1]), "ranks": [1, 3, 2], "ratings": [7, 2, 3]}"#
        let demonstrations = #"{"itemId": \#(items[2]), "text": "Listen, stay with her, and call a crisis line together."}, {"itemId": \#(items[3]), "text": "I'd rather not joke about someone's faith."}"#
        let selfAssessment = #"{"itemId": \#(items[4]), "value": 5}"#
        let submit = { (answers: String) in try call(app.port, "POST", "/api/screening", headers: self.writeHeaders(nia), json: #"{"answers": [\#(answers)]}"#) }
        let missing = try submit([flagging, ranking, demonstrations].joined(separator: ","))
        #expect(missing.status == 400 && missing.body.contains("item 5"), "\(missing.body)")
        let unknownFlag = try submit([#"{"itemId": \#(items[0]), "flags": [["rude"], []]}"#, ranking, demonstrations, selfAssessment].joined(separator: ","))
        #expect(unknownFlag.status == 400 && unknownFlag.body.contains("answers[0].flags[0]"), "\(unknownFlag.body)")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM screening_responses") } == 0)
        let submitted = try submit([flagging, ranking, demonstrations, selfAssessment].joined(separator: ","))
        #expect(submitted.status == 200, "\(submitted.body)")
        #expect(try submit([flagging, ranking, demonstrations, selfAssessment].joined(separator: ",")).status == 409)

        var row = try applicantRow(app, admin, username: "nia")
        var scores = try #require(row["scores"] as? [String: Any])
        #expect(scores["flagAgreement"] as? Double == 0.5 && scores["passesFlagging"] as? Bool == false)
        #expect(abs((scores["rankingAgreement"] as? Double ?? 0) - 2.0 / 3) < 1e-12 && scores["passesRanking"] as? Bool == false)
        #expect(scores["demonstrationsAwaitingGrade"] as? Int == 2 && scores["meetsThresholds"] == nil)
        #expect(scores["selfAssessment"] as? Double == 5)
        let niaID = try #require((row["user"] as? [String: Any])?["id"] as? Int)
        let early = try call(app.port, "POST", "/api/applicants/\(niaID)/decision", headers: writeHeaders(admin), json: #"{"decision": "accept", "note": "looks fine"}"#)
        #expect(early.status == 409 && early.body.contains("awaiting a grade"), "\(early.body)")

        // The grading screen's list is blind and shows the reference response.
        let toGrade = try call(app.port, "GET", "/api/screening/demonstrations", headers: ["Cookie": admin.cookie])
        let list = try #require(toGrade.json["demonstrations"] as? [[String: Any]])
        #expect(list.count == 2 && !toGrade.body.contains("nia") && toGrade.body.contains("crisis line"))
        let attemptID = try #require(list[0]["attemptId"] as? Int)
        let grade = { (body: String) in try call(app.port, "POST", "/api/screening-attempts/\(attemptID)/grades", headers: self.writeHeaders(admin), json: body) }
        #expect(try grade(#"{"grades": [{"itemId": \#(items[2]), "grade": 8}]}"#).status == 400)
        #expect(try grade(#"{"grades": [{"itemId": \#(items[4]), "grade": 5}]}"#).status == 400, "a self-assessment is not graded")
        #expect(try grade(#"{"grades": [{"itemId": \#(items[2]), "grade": 7, "note": "kind and safe"}, {"itemId": \#(items[3]), "grade": 6}]}"#).status == 204)
        #expect((try call(app.port, "GET", "/api/screening/demonstrations", headers: ["Cookie": admin.cookie]).json["demonstrations"] as? [Any])?.count == 0)

        row = try applicantRow(app, admin, username: "nia")
        scores = try #require(row["scores"] as? [String: Any])
        #expect(scores["demonstrationGrade"] as? Double == 6.5 && scores["passesDemonstrations"] as? Bool == true)
        #expect(scores["meetsThresholds"] as? Bool == false, "the flag and ranking scores are below 75%")

        // The admin accepts anyway, into the held-out group, with a note.
        let accepted = try call(app.port, "POST", "/api/applicants/\(niaID)/decision", headers: writeHeaders(admin),
                                json: #"{"decision": "accept", "labelerGroup": "held_out", "note": "close to the marks; evaluate only"}"#)
        #expect(accepted.status == 200, "\(accepted.body)")
        #expect(accepted.json["status"] as? String == "active" && accepted.json["labelerGroup"] as? String == "held_out")
        let audit = try app.database.read { try $0.queryOne("SELECT detail FROM audit_log WHERE action = 'applicant.accept'")?.string("detail") }
        #expect(audit == "group=held_out note=close to the marks; evaluate only")
        #expect(try applicantRow(app, admin, username: "nia")["attempt"].flatMap { ($0 as? [String: Any])?["decision"] as? String } == "accepted")
        #expect(try call(app.port, "POST", "/api/applicants/\(niaID)/decision", headers: writeHeaders(admin), json: #"{"decision": "reject", "note": "again"}"#).status == 409)

        // The new labeler sees work; the screening test is behind them.
        let researcher = try signIn(app.port, "rita")
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: writeHeaders(researcher), json: #"{"name": "Work"}"#).json["id"] as? Int)
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: writeHeaders(researcher),
                         rawBody: #"{"prompt": "Hi?", "candidates": [{"text": "Hello", "model": "m"}, {"text": "Hey", "model": "m"}]}"#).status == 200)
        let work = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": nia.cookie])
        #expect(work.status == 200 && work.json["prompt"] != nil, "\(work.body)")
        #expect(try call(app.port, "GET", "/api/screening", headers: ["Cookie": nia.cookie]).status == 403)
    }

    @Test func openRegistrationAndRejection() throws {
        let app = try TallyTestServer()
        let admin = try signIn(app.port, "ada")
        let testID = try #require(try call(app.port, "POST", "/api/screening-tests", headers: writeHeaders(admin), json: Self.testJSON()).json["id"] as? Int)
        #expect(try call(app.port, "PUT", "/api/registration", headers: writeHeaders(admin), json: #"{"mode": "open", "screeningTestId": \#(testID)}"#).status == 200)
        let applied = try call(app.port, "POST", "/api/applicants", json: #"{"username": "omar", "password": "long enough"}"#)
        #expect(applied.status == 201, "\(applied.body)")
        #expect(try call(app.port, "POST", "/api/applicants", json: #"{"username": "OMAR", "password": "long enough"}"#).status == 409)
        #expect(try call(app.port, "POST", "/api/applicants", json: #"{"username": "short", "password": "short"}"#).status == 400)
        let omar = try #require((applied.json["user"] as? [String: Any])?["id"] as? Int)
        // An applicant who never took the test can be rejected, not accepted.
        #expect(try call(app.port, "POST", "/api/applicants/\(omar)/decision", headers: writeHeaders(admin), json: #"{"decision": "accept", "note": "ok"}"#).status == 409)
        #expect(try call(app.port, "POST", "/api/applicants/\(omar)/decision", headers: writeHeaders(admin), json: #"{"decision": "reject", "note": ""}"#).status == 400)
        let rejected = try call(app.port, "POST", "/api/applicants/\(omar)/decision", headers: writeHeaders(admin), json: #"{"decision": "reject", "note": "spam account"}"#)
        #expect(rejected.status == 200 && rejected.json["status"] as? String == "rejected", "\(rejected.body)")
        #expect(try call(app.port, "POST", "/api/session", json: #"{"username": "omar", "password": "long enough"}"#).status == 403)
        let lena = try signIn(app.port, "lena")
        #expect(try call(app.port, "GET", "/api/applicants", headers: ["Cookie": lena.cookie]).status == 403)
        #expect(try call(app.port, "GET", "/api/screening", headers: ["Cookie": lena.cookie]).status == 403, "active labelers have no screening test")
    }

    @Test func goldPromptsAreMixedIntoTheQueueAndScoreEachLabeler() throws {
        let app = try TallyTestServer()
        let admin = try signIn(app.port, "ada")
        #expect(try call(app.port, "POST", "/api/users", headers: writeHeaders(admin),
                         json: #"{"username": "lars", "role": "labeler", "password": "\#(TallyTestServer.password)"}"#).status == 201)
        let researcher = try signIn(app.port, "rita")
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: writeHeaders(researcher), json: #"{"name": "Gold", "overlap": 1}"#).json["id"] as? Int)
        let lines = (1...3).map { #"{"prompt": "Question \#($0)?", "candidates": [{"text": "good \#($0)", "model": "m"}, {"text": "bad \#($0)", "model": "m"}]}"# }
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: writeHeaders(researcher), rawBody: lines.joined(separator: "\n")).status == 200)
        let prompts = try app.database.read { try $0.query("SELECT id FROM prompts WHERE project_id = ? ORDER BY id", [project]).map { try $0.int("id") } }
        let candidates = try app.database.read { try $0.query("SELECT id FROM candidates WHERE prompt_id = ? ORDER BY id", [prompts[0]]).map { try $0.int("id") } }

        let setGold = { (entries: String) in try call(app.port, "PUT", "/api/prompts/\(prompts[0])/gold", headers: self.writeHeaders(researcher), json: #"{"entries": [\#(entries)]}"#) }
        let partial = try setGold(#"{"candidateId": \#(candidates[0]), "rank": 1}"#)
        #expect(partial.status == 400 && partial.body.contains("exactly once"), "\(partial.body)")
        #expect(try setGold(#"{"candidateId": \#(candidates[0]), "rank": 1}, {"candidateId": \#(candidates[1]), "rank": 2, "flags": ["hallucination"]}"#).status == 200)
        #expect(try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(researcher), json: #"{"goldRate": 1.5}"#).status == 400)
        // Settings the project cannot change, and settings that do not exist, are refused by name
        // and change nothing.
        let fixed = try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(researcher), json: #"{"overlap": 2, "ratingMaximum": 5}"#)
        #expect(fixed.status == 400 && fixed.body.contains("field 'ratingMaximum' is not writable here"), "\(fixed.body)")
        let unknown = try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(researcher), json: #"{"goldRate": 0, "noSuchSetting": 1}"#)
        #expect(unknown.status == 400 && unknown.body.contains("unknown field 'noSuchSetting'"), "\(unknown.body)")
        let projects = try call(app.port, "GET", "/api/projects", headers: ["Cookie": researcher.cookie]).json["projects"] as? [[String: Any]]
        let unchanged = try #require(projects?.first { $0["id"] as? Int == project })
        #expect(unchanged["overlap"] as? Int == 1 && unchanged["goldRate"] as? Double == 0, "\(unchanged)")
        let misspelt = try call(app.port, "POST", "/api/prompts/\(prompts[0])/rankings", headers: writeHeaders(try signIn(app.port, "lena")),
                                json: #"{"entries": [{"candidateId": \#(candidates[0]), "rnak": 1}], "shownOrder": []}"#)
        #expect(misspelt.status == 400 && misspelt.body.contains("unknown field 'entries[0].rnak'"), "\(misspelt.body)")

        // At gold rate 0 the gold prompt is never served, and it is not counted as remaining work.
        let lena = try signIn(app.port, "lena"), lars = try signIn(app.port, "lars")
        let first = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lena.cookie])
        #expect((first.json["prompt"] as? [String: Any])?["id"] as? Int == prompts[1] && first.json["remaining"] as? Int == 2, "\(first.body)")

        // At gold rate 1 every labeler is served it next, beyond the overlap of 1; the task looks like any other.
        let patched = try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(researcher), json: #"{"goldRate": 1}"#)
        #expect(patched.status == 200 && patched.json["goldRate"] as? Double == 1, "\(patched.body)")
        for (session, ranks) in [(lars, [1, 2]), (lena, [2, 1])] {
            if session.cookie == lena.cookie {
                // lena first finishes the task she holds.
                let held = try #require((first.json["prompt"] as? [String: Any])?["candidates"] as? [[String: Any]]).map { $0["id"] as! Int }
                let order = try #require((first.json["assignment"] as? [String: Any])?["shownOrder"] as? [Int])
                let entries = held.enumerated().map { #"{"candidateId": \#($1), "rank": \#($0 + 1), "rating": \#(7 - $0)}"# }.joined(separator: ",")
                #expect(try call(app.port, "POST", "/api/prompts/\(prompts[1])/rankings", headers: writeHeaders(session),
                                 json: #"{"entries": [\#(entries)], "shownOrder": \#(order)}"#).status == 201)
            }
            let task = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": session.cookie])
            #expect((task.json["prompt"] as? [String: Any])?["id"] as? Int == prompts[0], "\(task.body)")
            for key in ["assignment", "prompt"] {
                #expect(Set((task.json[key] as? [String: Any] ?? [:]).keys) == Set((first.json[key] as? [String: Any] ?? [:]).keys))
            }
            #expect(Set(task.json.keys) == Set(first.json.keys) && !task.body.contains("\"rank\""), "no gold answer in the task")
            let order = try #require((task.json["assignment"] as? [String: Any])?["shownOrder"] as? [Int])
            let entries = zip(candidates, ranks).map { #"{"candidateId": \#($0), "rank": \#($1), "rating": \#(8 - $1)}"# }.joined(separator: ",")
            let ranked = try call(app.port, "POST", "/api/prompts/\(prompts[0])/rankings", headers: writeHeaders(session),
                                  json: #"{"entries": [\#(entries)], "shownOrder": \#(order)}"#)
            #expect(ranked.status == 201, "\(ranked.body)")
        }

        let report = try call(app.port, "GET", "/api/projects/\(project)/quality", headers: ["Cookie": researcher.cookie])
        let labelers = try #require(report.json["labelers"] as? [[String: Any]])
        func gold(_ name: String) -> (Int?, Double?) {
            let row = labelers.first { $0["username"] as? String == name }
            return (row?["goldRankings"] as? Int, (row?["goldAgreement"] as? [String: Any])?["estimate"] as? Double)
        }
        #expect(gold("lars") == (1, 1.0) && gold("lena") == (1, 0.0), "\(report.body)")
        #expect(try call(app.port, "DELETE", "/api/prompts/\(prompts[0])/gold", headers: writeHeaders(researcher)).status == 204)
        #expect(try call(app.port, "GET", "/api/prompts/\(prompts[0])/gold", headers: ["Cookie": researcher.cookie]).status == 404)
    }
}

/// The screening scores for answers counted by hand.
@Suite("Screening scores")
struct ScreeningScoreTests {
    @Test func scoresFollowTheDocumentedFormulas() throws {
        let app = try TallyTestServer()
        let test = try app.database.write { database in
            try ScreeningTestRepository().create(try JSONValueDecoder().decode(NewScreeningTest.self, from: Array(ScreeningTests.testJSON().utf8)), createdBy: nil, in: database)
        }
        let ids = test.items.map(\.id)
        // Everything right: both criteria at 100%; no grades yet, so no verdict on the demonstrations.
        var answers = [
            ScreeningAnswer(itemId: ids[0], flags: [["harmful_advice"], []]), ScreeningAnswer(itemId: ids[1], ranks: [1, 2, 3]),
            ScreeningAnswer(itemId: ids[2], text: "a"), ScreeningAnswer(itemId: ids[3], text: "b"), ScreeningAnswer(itemId: ids[4], value: 2),
        ]
        var scores = ScreeningScores.compute(test: test, answers: Dictionary(uniqueKeysWithValues: answers.map { ($0.itemId, $0) }), grades: [:], submitted: true)
        #expect(scores.flagAgreement == 1 && scores.flagOutputs == 2 && scores.rankingAgreement == 1 && scores.rankingPairs == 3)
        #expect(scores.passesDemonstrations == nil && scores.meetsThresholds == nil && scores.demonstrationsAwaitingGrade == 2)
        // A tie where gold orders: that pair disagrees (1 of 3); flagging nothing misses the flagged output (1 of 2 agree).
        answers[0] = ScreeningAnswer(itemId: ids[0], flags: [[], []])
        answers[1] = ScreeningAnswer(itemId: ids[1], ranks: [1, 1, 3])
        scores = ScreeningScores.compute(test: test, answers: Dictionary(uniqueKeysWithValues: answers.map { ($0.itemId, $0) }),
                                         grades: [ids[2]: 6, ids[3]: 5], submitted: true)
        #expect(scores.flagAgreement == 0.5 && abs(scores.rankingAgreement! - 2.0 / 3) < 1e-12)
        #expect(scores.demonstrationGrade == 5.5 && scores.passesDemonstrations == false && scores.meetsThresholds == false)
        #expect(scores.selfAssessment == 2)
    }
}
