import Foundation
import Labeling
import Testing
@testable import TallyServer

/// The labeler's day over HTTP: assignments that hold overlap slots, skipping with a reason,
/// expiry, written prompts, the home page's counts; and CSV prompt imports.
@Suite("Queues, assignments and written prompts over HTTP", .serialized)
struct QueueTests {
    typealias Session = (cookie: String, csrf: String)

    private func writeHeaders(_ session: Session) -> [String: String] { ["Cookie": session.cookie, "X-CSRF-Token": session.csrf] }

    /// A project with `overlap`, three prompts of three candidates each, and labelers lena, lars and lou.
    private func setUp(overlap: Int, assignmentMinutes: Int = 60) throws -> (TallyTestServer, project: Int, lena: Session, lars: Session, lou: Session) {
        let app = try TallyTestServer()
        let admin = try signIn(app.port, "ada")
        for name in ["lars", "lou"] {
            #expect(try call(app.port, "POST", "/api/users", headers: writeHeaders(admin),
                             json: #"{"username": "\#(name)", "role": "labeler", "password": "\#(TallyTestServer.password)"}"#).status == 201)
        }
        let researcher = try signIn(app.port, "rita")
        let created = try call(app.port, "POST", "/api/projects", headers: writeHeaders(researcher),
                               json: #"{"name": "Queue", "ratingsRequired": false, "rankingSize": 3, "overlap": \#(overlap), "assignmentMinutes": \#(assignmentMinutes), "promptsWanted": 2}"#)
        let project = try #require(created.json["id"] as? Int, "\(created.body)")
        let lines = (1...3).map { index in
            #"{"prompt": "Question \#(index)?", "candidates": [{"text": "a\#(index)", "model": "m1"}, {"text": "b\#(index)", "model": "m2"}, {"text": "c\#(index)", "model": "m3"}]}"#
        }.joined(separator: "\n")
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: writeHeaders(researcher), rawBody: lines).status == 200)
        return (app, project, try signIn(app.port, "lena"), try signIn(app.port, "lars"), try signIn(app.port, "lou"))
    }

    private func next(_ app: TallyTestServer, _ project: Int, _ session: Session, kind: String = "ranking") throws -> (assignment: Int?, prompt: Int?, order: [Int], remaining: Int) {
        let response = try call(app.port, "GET", "/api/projects/\(project)/next-\(kind)", headers: ["Cookie": session.cookie])
        #expect(response.status == 200, "\(response.body)")
        let prompt = response.json["prompt"] as? [String: Any]
        return ((response.json["assignment"] as? [String: Any])?["id"] as? Int, prompt?["id"] as? Int,
                (prompt?["candidates"] as? [[String: Any]] ?? []).map { $0["id"] as! Int }, response.json["remaining"] as! Int)
    }

    private func rank(_ app: TallyTestServer, _ session: Session, prompt: Int, order: [Int], shown: [Int]? = nil) throws -> APIResponse {
        let entries = order.enumerated().map { #"{"candidateId": \#($1), "rank": \#($0 + 1)}"# }.joined(separator: ",")
        return try call(app.port, "POST", "/api/prompts/\(prompt)/rankings", headers: writeHeaders(session),
                        json: #"{"entries": [\#(entries)], "shownOrder": \#(shown ?? order)}"#)
    }

    @Test func assignmentsHoldOverlapSlotsUntilSubmittedSkippedOrExpired() throws {
        let (app, project, lena, lars, lou) = try setUp(overlap: 2)
        // lena and lars each take prompt 1: its two slots are held, so lou is sent to prompt 2.
        let lenaTask = try next(app, project, lena)
        let larsTask = try next(app, project, lars)
        #expect(lenaTask.prompt == larsTask.prompt && lenaTask.remaining == 3)
        let louTask = try next(app, project, lou)
        #expect(louTask.prompt != lenaTask.prompt && louTask.remaining == 2)
        // Asking again resumes the same assignment, in the same shown order.
        let again = try next(app, project, lena)
        #expect(again.assignment == lenaTask.assignment && again.order == lenaTask.order)

        // The shown order must be the one recorded for the assignment.
        let reversed = Array(lenaTask.order.reversed())
        let mismatch = try rank(app, lena, prompt: lenaTask.prompt!, order: lenaTask.order, shown: reversed)
        #expect(mismatch.status == 400 && mismatch.body.contains("shownOrder"))
        #expect(try rank(app, lena, prompt: lenaTask.prompt!, order: lenaTask.order).status == 201)

        // Skipping needs a reason, is the labeler's own, and happens once.
        let skip = "/api/assignments/\(larsTask.assignment!)/skip"
        #expect(try call(app.port, "POST", skip, headers: writeHeaders(lars), json: #"{"reason": "  "}"#).status == 400)
        #expect(try call(app.port, "POST", skip, headers: writeHeaders(lou), json: #"{"reason": "not mine"}"#).status == 404)
        #expect(try call(app.port, "POST", skip, headers: writeHeaders(lars), json: #"{"reason": "I cannot judge medical advice"}"#).status == 204)
        #expect(try call(app.port, "POST", skip, headers: writeHeaders(lars), json: #"{"reason": "again"}"#).status == 409)
        let stored = try app.database.read { try $0.queryOne("SELECT status, skip_reason FROM assignments WHERE id = ?", [larsTask.assignment!]) }
        #expect(try stored?.string("status") == "skipped" && stored?.string("skip_reason") == "I cannot judge medical advice")
        // lars is not offered the skipped prompt again and cannot rank it; its slot went back to the queue.
        #expect(try next(app, project, lars).prompt != larsTask.prompt)
        #expect(try rank(app, lars, prompt: larsTask.prompt!, order: larsTask.order).status == 409)

        // lou abandons prompt 2; once the assignment expires the prompt returns to the queue.
        try app.database.write { try $0.execute("UPDATE assignments SET expires_at = '2000-01-01T00:00:00.000Z' WHERE id = ?", [louTask.assignment!]) }
        let louAgain = try next(app, project, lou)
        #expect(louAgain.prompt == lenaTask.prompt, "lou takes the slot lars freed on prompt 1")
        // Meanwhile lou's expired prompt 2 is free for two others; once both slots are taken,
        // lou's late submission is refused rather than going over the overlap.
        let larsSecond = try next(app, project, lars)
        #expect(larsSecond.prompt == louTask.prompt)
        #expect(try rank(app, lars, prompt: larsSecond.prompt!, order: larsSecond.order).status == 201)
        #expect(try rank(app, lena, prompt: louTask.prompt!, order: louTask.order).status == 201, "a free slot may be taken without asking the queue")
        let late = try rank(app, lou, prompt: louTask.prompt!, order: louTask.order)
        #expect(late.status == 409 && late.body.contains("expired"), "\(late.body)")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT max(n) FROM (SELECT count(*) AS n FROM rankings GROUP BY prompt_id)") } == 2)

        // The researcher sees the tasks by kind and status.
        let statistics = try call(app.port, "GET", "/api/projects/\(project)/statistics", headers: ["Cookie": (try signIn(app.port, "rita")).cookie])
        let ranking = try #require((statistics.json["tasks"] as? [[String: Any]])?.first { $0["kind"] as? String == "ranking" })
        #expect(ranking["active"] as? Int == 1 && ranking["expired"] as? Int == 1 && ranking["skipped"] as? Int == 1 && ranking["submitted"] as? Int == 3, "\(ranking)")
        let larsRow = try #require((statistics.json["labelers"] as? [[String: Any]])?.first { $0["username"] as? String == "lars" })
        #expect(larsRow["rankings"] as? Int == 1 && larsRow["skipped"] as? Int == 1)
        #expect(larsRow["lastSubmittedAt"] is String, "a ranking without any demonstration still has a last submission")
    }

    /// Overlap and ranking size may change under existing labels: raising the overlap reopens a
    /// complete prompt, lowering it closes it again; the ranking size is checked as at creation
    /// and is 2 for a graded-pair project; each change is audit-logged.
    @Test func overlapAndRankingSizeChangeUnderExistingRankings() throws {
        let (app, project, lena, lars, lou) = try setUp(overlap: 1)
        let researcher = try signIn(app.port, "rita")
        func patch(_ body: String) throws -> APIResponse {
            try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(researcher), json: body)
        }
        // With overlap 1, the prompt lena ranks is complete: lars is offered only the other two.
        let task = try next(app, project, lena)
        #expect(try rank(app, lena, prompt: task.prompt!, order: task.order).status == 201)
        #expect(try next(app, project, lars).remaining == 2)
        let raised = try patch(#"{"overlap": 2}"#)
        #expect(raised.status == 200 && raised.json["overlap"] as? Int == 2, "\(raised.body)")
        #expect(try next(app, project, lars).remaining == 3, "the complete prompt is open again")
        #expect(try patch(#"{"overlap": 1}"#).status == 200)
        // Back at 1, lena's prompt is complete again and the one lars has held since he first
        // asked keeps its slot: lou is left the third prompt.
        let louTask = try next(app, project, lou)
        #expect(louTask.remaining == 1 && louTask.prompt != task.prompt, "\(louTask)")
        #expect(try patch(#"{"overlap": 0}"#).body.contains("field 'overlap' must be from 1 to 20"))

        let resized = try patch(#"{"rankingSize": 5}"#)
        #expect(resized.status == 200 && resized.json["rankingSize"] as? Int == 5, "\(resized.body)")
        #expect(try patch(#"{"rankingSize": 10}"#).body.contains("field 'rankingSize' must be from 2 to 9"))
        let pair = try #require(try call(app.port, "POST", "/api/projects", headers: writeHeaders(researcher),
                                         json: #"{"name": "Pairs", "comparisonStyle": "graded-pair"}"#).json["id"] as? Int)
        let widened = try call(app.port, "PATCH", "/api/projects/\(pair)", headers: writeHeaders(researcher), json: #"{"rankingSize": 3}"#)
        #expect(widened.status == 400 && widened.body.contains("must be 2 for a graded-pair project"), "\(widened.body)")
        let audit = try app.database.read { try $0.query("SELECT detail FROM audit_log WHERE action = 'project.update'").compactMap { $0["detail"].text } }
        #expect(audit.contains("overlap=2") && audit.contains("rankingSize=5"), "\(audit)")
    }

    /// Ranking, demonstrations and prompts each have their own guidelines, set at creation or
    /// later, handed out with the task of their kind, and limited as the database counts.
    @Test func eachTaskKindHasItsOwnGuidelines() throws {
        let (app, project, lena, _, _) = try setUp(overlap: 1)
        let researcher = try signIn(app.port, "rita")
        let changed = try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(researcher),
                               json: #"{"guidelines": "Prefer the honest answer.", "demonstrationGuidelines": "Answer in two sentences.", "promptGuidelines": "Ask about cooking."}"#)
        #expect(changed.status == 200 && changed.json["demonstrationGuidelines"] as? String == "Answer in two sentences."
                && changed.json["promptGuidelines"] as? String == "Ask about cooking.", "\(changed.body)")
        let task = try call(app.port, "GET", "/api/projects/\(project)/next-demonstration", headers: ["Cookie": lena.cookie])
        let shown = task.json["project"] as? [String: Any] ?? [:]
        #expect(shown["demonstrationGuidelines"] as? String == "Answer in two sentences." && shown["guidelines"] as? String == "Prefer the honest answer.", "\(task.body)")
        let tooLong = try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(researcher),
                               json: #"{"promptGuidelines": "\#(String(repeating: "e\u{301}", count: 50_001))"}"#)
        #expect(tooLong.status == 400 && tooLong.body.contains("field 'promptGuidelines' must have at most 100000 characters"), "\(tooLong.body.prefix(300))")
        let created = try call(app.port, "POST", "/api/projects", headers: writeHeaders(researcher),
                               json: #"{"name": "Kinds", "demonstrationGuidelines": "Be brief."}"#)
        #expect(created.status == 201 && created.json["demonstrationGuidelines"] as? String == "Be brief." && created.json["promptGuidelines"] as? String == "", "\(created.body)")
    }

    /// Active selection on a constructed case whose answer is known: with the uncertainty order
    /// and no random share, prompts come smallest score margin first and unscored ones last;
    /// with a random share of 1, never in that order for certain; import order is untouched.
    @Test func theUncertaintyOrderServesTheClosestScoredPromptsFirst() throws {
        let (app, project, lena, lars, lou) = try setUp(overlap: 1)
        let researcher = try signIn(app.port, "rita")
        let prompts = try app.database.read { try $0.query("SELECT id FROM prompts WHERE project_id = ? ORDER BY id", [project]).map { try $0.int("id") } }
        // A reward model that is sure about the first prompt (margin 2), unsure about the third
        // (0.1) and has not scored the second.
        try app.database.write { database in
            try database.execute("""
                INSERT INTO model_versions (name, kind, architecture, checkpoint_path, checkpoint_sha256, parameter_count)
                VALUES ('judge', 'reward', 'llama', '/nowhere', ?, 1)
                """, [String(repeating: "0", count: 64)])
            let model = Int(database.lastInsertRowID)
            try QueueUncertainty().store(scores: [
                (prompts[0], try database.query("SELECT id FROM candidates WHERE prompt_id = ? ORDER BY id", [prompts[0]]).enumerated().map { (try $1.int("id"), Double($0) * 2) }),
                (prompts[2], try database.query("SELECT id FROM candidates WHERE prompt_id = ? ORDER BY id", [prompts[2]]).enumerated().map { (try $1.int("id"), 1 + Double($0) * 0.1) }),
            ], modelID: model, projectID: project, in: database)
        }
        #expect(QueueUncertainty.smallestMargin([3, 1, 1.5]) == 0.5 && QueueUncertainty.smallestMargin([1]) == nil)
        #expect(try next(app, project, lena).prompt == prompts[0], "import order until the project asks for another")
        let wrong = try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(researcher), json: #"{"queueOrder": "entropy"}"#)
        #expect(wrong.status == 400 && wrong.body.contains("field 'queueOrder' must be 'import' or 'uncertainty'"), "\(wrong.body)")
        #expect(try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(researcher), json: #"{"randomShare": 1.5}"#).body.contains("field 'randomShare'"))
        let patched = try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(researcher), json: #"{"queueOrder": "uncertainty", "randomShare": 0}"#)
        #expect(patched.status == 200 && patched.json["queueOrder"] as? String == "uncertainty" && patched.json["randomShare"] as? Double == 0, "\(patched.body)")
        // lena holds the first prompt; lars gets the least certain one, lou the unscored one.
        #expect(try next(app, project, lars).prompt == prompts[2])
        #expect(try next(app, project, lou).prompt == prompts[1])
    }

    @Test func demonstrationQueueHandsOutAssignmentsToo() throws {
        let (app, project, lena, lars, _) = try setUp(overlap: 1)
        let lenaTask = try next(app, project, lena, kind: "demonstration")
        #expect(lenaTask.order.count == 3, "candidates come along as suggestions")
        #expect(try next(app, project, lars, kind: "demonstration").prompt != lenaTask.prompt)
        #expect(try call(app.port, "POST", "/api/prompts/\(lenaTask.prompt!)/demonstrations", headers: writeHeaders(lena), json: #"{"text": "An answer."}"#).status == 201)
        #expect(try call(app.port, "POST", "/api/prompts/\(lenaTask.prompt!)/demonstrations", headers: writeHeaders(lars), json: #"{"text": "Mine."}"#).status == 409)
        #expect(try next(app, project, lena, kind: "demonstration").remaining == 1, "prompt 3: lars holds prompt 2")
    }

    @Test func labelersWritePromptsAndResearchersSendThemThroughTheAPI() throws {
        let (app, project, lena, lars, _) = try setUp(overlap: 1)
        let path = "/api/projects/\(project)/prompts"
        let written = try call(app.port, "POST", path, headers: writeHeaders(lena), json: #"{"prompt": "Write a haiku about tides.", "category": "generation"}"#)
        #expect(written.status == 201, "\(written.body)")
        let id = try #require(written.json["id"] as? Int)
        let row = try app.database.read { try $0.queryOne("SELECT source, category, author_id FROM prompts WHERE id = ?", [id]) }
        #expect(try row?.string("source") == "labeler" && row?.string("category") == "generation")
        #expect(try row?.int("author_id") == app.database.read { try $0.queryScalarInt("SELECT id FROM users WHERE username = 'lena'") })
        #expect(try call(app.port, "POST", path, headers: writeHeaders(lars), json: #"{"prompt": "Write a haiku about tides."}"#).status == 409)
        let badCategory = try call(app.port, "POST", path, headers: writeHeaders(lars), json: #"{"prompt": "x", "category": "poetry"}"#)
        #expect(badCategory.status == 400 && badCategory.body.contains("'category'"))
        let candidates = try call(app.port, "POST", path, headers: writeHeaders(lars), json: #"{"prompt": "y", "candidates": []}"#)
        #expect(candidates.status == 400 && candidates.body.contains("'candidates'"))
        #expect(try call(app.port, "POST", path, headers: writeHeaders(lars), json: #"{"prompt": "   "}"#).status == 400)

        let researcher = try signIn(app.port, "rita")
        let apiPrompt = #"{"prompt": "Name a prime.", "split": "test", "candidates": [{"text": "7", "model": "m1"}]}"#
        let sent = try call(app.port, "POST", path, headers: writeHeaders(researcher), json: apiPrompt)
        #expect(sent.status == 201 && sent.json["candidatesAdded"] as? Int == 1)
        let resent = try call(app.port, "POST", path, headers: writeHeaders(researcher),
                              json: #"{"prompt": "Name a prime.", "candidates": [{"text": "7", "model": "m1"}, {"text": "11", "model": "m2"}]}"#)
        #expect(resent.status == 200 && resent.json["created"] as? Bool == false && resent.json["candidatesAdded"] as? Int == 1)
        #expect(try app.database.read { try $0.queryScalarText("SELECT source FROM prompts WHERE id = ?", [sent.json["id"] as! Int]) } == "api")
    }

    @Test func labelerHomeCountsQueuesAndTodaysWork() throws {
        let (app, project, lena, _, _) = try setUp(overlap: 1)
        let task = try next(app, project, lena)
        #expect(try rank(app, lena, prompt: task.prompt!, order: task.order).status == 201)
        let held = try next(app, project, lena)
        #expect(try call(app.port, "POST", "/api/projects/\(project)/prompts", headers: writeHeaders(lena), json: #"{"prompt": "A new question?"}"#).status == 201)
        let home = try call(app.port, "GET", "/api/me/work", headers: ["Cookie": lena.cookie])
        #expect(home.status == 200, "\(home.body)")
        let queue = try #require((home.json["projects"] as? [[String: Any]])?.first)
        #expect(queue["rankingsRemaining"] as? Int == 2)
        #expect(queue["demonstrationsRemaining"] as? Int == 4, "three imported prompts and the written one")
        #expect(queue["promptsWanted"] as? Int == 1)
        #expect((queue["held"] as? [[String: Any]])?.map { $0["id"] as! Int } == [held.assignment!])
        let today = try #require(home.json["today"] as? [String: Any])
        #expect(today["rankings"] as? Int == 1 && today["promptsWritten"] as? Int == 1 && today["demonstrations"] as? Int == 0)
        #expect(try call(app.port, "GET", "/api/me/work", headers: ["Cookie": (try signIn(app.port, "rita")).cookie]).status == 403)
    }

    @Test func queueRoutesByRole() throws {
        let (app, project, lena, _, _) = try setUp(overlap: 1)
        let sessions = ["admin": try signIn(app.port, "ada"), "researcher": try signIn(app.port, "rita"), "labeler": lena]
        let cases: [(method: String, path: String, body: String?, allowed: Set<String>)] = [
            ("GET", "/api/projects/\(project)/next-ranking", nil, ["labeler"]),
            ("GET", "/api/projects/\(project)/next-demonstration", nil, ["labeler"]),
            ("GET", "/api/me/work", nil, ["labeler"]),
            ("POST", "/api/projects/\(project)/prompts", #"{"prompt": "By ROLE?"}"#, ["labeler", "researcher", "admin"]),
            ("GET", "/api/projects/\(project)/statistics", nil, ["researcher", "admin"]),
        ]
        for item in cases {
            #expect(try call(app.port, item.method, item.path, json: item.body).status == 401)
            for (role, session) in sessions {
                let status = try call(app.port, item.method, item.path, headers: writeHeaders(session), json: item.body?.replacingOccurrences(of: "ROLE", with: role)).status
                #expect(item.allowed.contains(role) ? (200..<300).contains(status) : status == 403, "\(role) \(item.method) \(item.path): \(status)")
            }
        }
    }

    @Test func csvImportsGatherRowsIntoPromptsAndNameLineAndColumn() throws {
        let (app, project, _, _, _) = try setUp(overlap: 1)
        let researcher = try signIn(app.port, "rita")
        func importCSV(_ body: String, file: String = "prompts.csv") throws -> APIResponse {
            try call(app.port, "POST", "/api/projects/\(project)/imports/prompts?file=\(file)", headers: writeHeaders(researcher).merging(["Content-Type": "text/csv"]) { $1 }, rawBody: body)
        }
        let good = "prompt,category,split,candidate,model,model_version\r\n"
            + "\"Explain, briefly: \"\"RLHF\"\".\",open_qa,train,\"Reinforcement learning\nfrom human feedback.\",m1,v1\r\n"
            + "\"Explain, briefly: \"\"RLHF\"\".\",open_qa,train,A way to train.,m2,\r\n"
            + "Say hi.,,,,,\r\n"
        let imported = try importCSV(good)
        #expect(imported.status == 200, "\(imported.body)")
        #expect(imported.json["promptsCreated"] as? Int == 2 && imported.json["candidatesAdded"] as? Int == 2)
        let text = try app.database.read { try $0.queryScalarText("SELECT text FROM candidates WHERE model_name = 'm1' AND model_version = 'v1'") }
        #expect(text == "Reinforcement learning\nfrom human feedback.")
        #expect(try app.database.read { try $0.queryScalarText("SELECT content FROM prompts WHERE category = 'open_qa' AND project_id = ?", [project]) } == "Explain, briefly: \"RLHF\".")
        #expect(try importCSV(good).json["promptsExisting"] as? Int == 2, "re-importing finds the same prompts")

        let before = try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM prompts") }
        let bad = "prompt,category,colour,candidate,model\n"
            + "Fine.,,red,,\n"
            + "Two rows.,open_qa,,x,m1\n"
            + "Two rows.,chat,,y,m2\n"
            + "No model.,,,an answer,\n"
            + "Short row.\n"
        let rejected = try importCSV(bad, file: "bad.csv")
        #expect(rejected.status == 422)
        let problems = try #require((rejected.json["error"] as? [String: Any])?["problems"] as? [[String: Any]])
        let located = Set(problems.map { "\($0["line"] as! Int):\($0["field"] as! String)" })
        #expect(located == ["1:colour", "4:category", "5:model", "6:"], "\(located)")
        #expect(problems.allSatisfy { $0["file"] as? String == "bad.csv" })
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM prompts") } == before, "all or nothing")

        let unclosed = try importCSV("prompt,candidate,model\nok,a,m\n\"never closed,b,m\n")
        #expect(unclosed.status == 422 && unclosed.body.contains("\"line\":3") && unclosed.body.contains("never closed"), "\(unclosed.body)")
        #expect(try importCSV("category\nchat\n").body.contains("'prompt' column"))
    }
}
