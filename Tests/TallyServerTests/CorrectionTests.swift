import Foundation
import TallyTestSupport
import Testing
@testable import TallyServer

/// A labeler's history and corrections over HTTP: a correction is a new ranking that
/// supersedes the old one, which stays; counts, queues and exports see the ranking in force,
/// and an export as of a time before the correction still holds the old one.
@Suite("Corrections of rankings")
struct CorrectionTests {
    typealias Session = (cookie: String, csrf: String)
    private func write(_ session: Session) -> [String: String] { ["Cookie": session.cookie, "X-CSRF-Token": session.csrf] }

    private func exportedRankings(_ app: TallyTestServer, _ researcher: Session, project: Int, query: String = "") throws -> [[String: Any]] {
        let export = try call(app.port, "GET", "/api/projects/\(project)/exports/rankings\(query)", headers: ["Cookie": researcher.cookie])
        #expect(export.status == 200, "\(export.body)")
        return export.body.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test func aCorrectionSupersedesTheRankingAndExportsAsOfEarlierKeepTheOld() throws {
        let app = try TallyTestServer()
        let rita = try signIn(app.port, "rita"), lena = try signIn(app.port, "lena")
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: write(rita),
                                            json: #"{"name": "Corrections", "rankingSize": 3, "ratingsRequired": false}"#).json["id"] as? Int)
        let lines = #"{"prompt": "Name a prime.", "candidates": [{"text": "2", "model": "a"}, {"text": "4", "model": "b"}, {"text": "9", "model": "c"}]}"#
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: write(rita), rawBody: lines).status == 200)
        let task = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lena.cookie])
        let prompt = try #require(task.json["prompt"] as? [String: Any])
        let promptID = try #require(prompt["id"] as? Int)
        let shown = try #require(prompt["candidates"] as? [[String: Any]]).compactMap { $0["id"] as? Int }
        func ranking(_ ranks: [Int]) -> String {
            let entries = zip(shown, ranks).map { #"{"candidateId": \#($0), "rank": \#($1)}"# }.joined(separator: ", ")
            return #"{"entries": [\#(entries)], "shownOrder": \#(shown)}"#
        }
        let first = try call(app.port, "POST", "/api/prompts/\(promptID)/rankings", headers: write(lena), json: ranking([1, 2, 3]))
        let original = try #require(first.json["id"] as? Int, "\(first.body)")
        // A time after the ranking and before its correction, a few milliseconds from each.
        usleep(20_000)
        let before = try #require(try app.database.read { try $0.queryScalarText("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')") })
        usleep(20_000)

        // The history lists it, correctable for the project's default hour.
        let history = try call(app.port, "GET", "/api/me/rankings", headers: ["Cookie": lena.cookie])
        let listed = try #require((history.json["rankings"] as? [[String: Any]])?.first, "\(history.body)")
        #expect(listed["id"] as? Int == original && listed["correctable"] as? Bool == true && listed["correctableUntil"] is String, "\(listed)")
        let own = try call(app.port, "GET", "/api/rankings/\(original)", headers: ["Cookie": lena.cookie])
        #expect(own.status == 200 && ((own.json["prompt"] as? [String: Any])?["candidates"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == shown,
                "the candidates come in the order shown: \(own.body)")

        // A correction must be as valid as a submission, and in the order first shown.
        let gap = try call(app.port, "POST", "/api/rankings/\(original)/corrections", headers: write(lena), json: ranking([1, 3, 3]))
        #expect(gap.status == 400 && gap.body.contains("densely"), "\(gap.body)")
        let reordered = try call(app.port, "POST", "/api/rankings/\(original)/corrections", headers: write(lena),
                                 json: #"{"entries": [{"candidateId": \#(shown[0]), "rank": 1}, {"candidateId": \#(shown[1]), "rank": 2}, {"candidateId": \#(shown[2]), "rank": 3}], "shownOrder": \#(Array(shown.reversed()))}"#)
        #expect(reordered.status == 400 && reordered.body.contains("the order you were shown the first time"), "\(reordered.body)")
        let corrected = try call(app.port, "POST", "/api/rankings/\(original)/corrections", headers: write(lena), json: ranking([3, 1, 2]))
        #expect(corrected.status == 201 && corrected.json["corrects"] as? Int == original, "\(corrected.body)")
        let correction = try #require(corrected.json["id"] as? Int)

        // Both rows stay; the old one is marked superseded; the audit log says who and which.
        let rows = try app.database.read { try $0.query("SELECT id, corrects_id, superseded_at IS NOT NULL AS superseded FROM rankings ORDER BY id") }
        #expect(rows.count == 2 && rows[0]["superseded"].integer == 1 && rows[1]["corrects_id"].integer.map(Int.init) == original && rows[1]["superseded"].integer == 0)
        #expect(try app.database.read { try $0.queryScalarText("SELECT detail FROM audit_log WHERE action = 'ranking.correct'") } == "corrected by ranking \(correction)")

        // Exports take the ranking in force; as of a time before the correction, the old one.
        let now = try exportedRankings(app, rita, project: project)
        #expect(now.map { $0["ranking_id"] as? Int } == [correction], "\(now)")
        let then = try exportedRankings(app, rita, project: project, query: "?until=\(before)")
        #expect(then.map { $0["ranking_id"] as? Int } == [original], "\(then)")
        // Counts see one label, not two: the prompt stays complete at overlap 1.
        let statistics = try call(app.port, "GET", "/api/projects/\(project)/statistics", headers: ["Cookie": rita.cookie])
        #expect(statistics.json["rankings"] as? Int == 1, "\(statistics.body.prefix(400))")

        // The old ranking cannot be corrected again, nor another labeler's, nor past the window.
        let again = try call(app.port, "POST", "/api/rankings/\(original)/corrections", headers: write(lena), json: ranking([1, 2, 3]))
        #expect(again.status == 409 && again.body.contains("corrected already, by ranking \(correction)"), "\(again.body)")
        let rita2 = try call(app.port, "POST", "/api/rankings/\(correction)/corrections", headers: write(rita), json: ranking([1, 2, 3]))
        #expect(rita2.status == 403, "a researcher does not correct labels")
        let ada = try signIn(app.port, "ada")
        #expect(try call(app.port, "POST", "/api/users", headers: write(ada), json: #"{"username": "lars", "role": "labeler", "password": "\#(TallyTestServer.password)"}"#).status == 201)
        let lars = try signIn(app.port, "lars")
        #expect(try call(app.port, "GET", "/api/rankings/\(correction)", headers: ["Cookie": lars.cookie]).status == 404)
        #expect(try call(app.port, "POST", "/api/rankings/\(correction)/corrections", headers: write(lars), json: ranking([1, 2, 3])).status == 404)
        #expect(try call(app.port, "PATCH", "/api/projects/\(project)", headers: write(rita), json: #"{"correctionMinutes": 0}"#).status == 200)
        let closed = try call(app.port, "POST", "/api/rankings/\(correction)/corrections", headers: write(lena), json: ranking([1, 2, 3]))
        #expect(closed.status == 409 && closed.body.contains("allows no corrections"), "\(closed.body)")
        #expect(try call(app.port, "PATCH", "/api/projects/\(project)", headers: write(rita), json: #"{"correctionMinutes": 10081}"#).body.contains("field 'correctionMinutes'"))
    }
}

extension CorrectionTests {
    /// Undo: a withdrawn ranking leaves the labels in force, its row stays, and the task comes
    /// back to the labeler in the order they were shown, to rank again.
    @Test func undoWithdrawsTheRankingAndGivesTheTaskBack() throws {
        let app = try TallyTestServer()
        let rita = try signIn(app.port, "rita"), lena = try signIn(app.port, "lena")
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: write(rita),
                                            json: #"{"name": "Undo", "rankingSize": 2, "ratingsRequired": false}"#).json["id"] as? Int)
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: write(rita),
                         rawBody: #"{"prompt": "Yes or no?", "candidates": [{"text": "yes", "model": "a"}, {"text": "no", "model": "b"}]}"#).status == 200)
        func task() throws -> (prompt: Int?, order: [Int]) {
            let response = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lena.cookie])
            let prompt = response.json["prompt"] as? [String: Any]
            return (prompt?["id"] as? Int, (prompt?["candidates"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int })
        }
        let first = try task()
        let promptID = try #require(first.prompt)
        let body = #"{"entries": [{"candidateId": \#(first.order[0]), "rank": 1}, {"candidateId": \#(first.order[1]), "rank": 2}], "shownOrder": \#(first.order)}"#
        let ranked = try #require(try call(app.port, "POST", "/api/prompts/\(promptID)/rankings", headers: write(lena), json: body).json["id"] as? Int)
        #expect(try task().prompt == nil, "nothing left once ranked")

        let undone = try call(app.port, "POST", "/api/rankings/\(ranked)/withdrawal", headers: write(lena))
        #expect(undone.status == 200 && undone.json["promptId"] as? Int == promptID, "\(undone.body)")
        let again = try task()
        #expect(again.prompt == promptID && again.order == first.order, "the task is back, in the order first shown")
        #expect(try call(app.port, "GET", "/api/projects/\(project)/statistics", headers: ["Cookie": rita.cookie]).json["rankings"] as? Int == 0)
        #expect(try exportedRankings(app, rita, project: project).isEmpty)
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM rankings WHERE superseded_at IS NOT NULL") } == 1, "the row stays")
        let twice = try call(app.port, "POST", "/api/rankings/\(ranked)/withdrawal", headers: write(lena))
        #expect(twice.status == 409 && twice.body.contains("was withdrawn"), "\(twice.body)")
        let corrected = try call(app.port, "POST", "/api/rankings/\(ranked)/corrections", headers: write(lena), json: body)
        #expect(corrected.status == 409 && corrected.body.contains("was withdrawn"), "\(corrected.body)")
        // Ranked again through the queue, as any task.
        #expect(try call(app.port, "POST", "/api/prompts/\(promptID)/rankings", headers: write(lena), json: body).status == 201)
        #expect(try app.database.read { try $0.queryScalarText("SELECT group_concat(action) FROM audit_log WHERE action LIKE 'ranking.%'") } == "ranking.withdraw")
    }
}

extension CorrectionTests {
    private func exportedDemonstrations(_ app: TallyTestServer, _ researcher: Session, project: Int, query: String = "") throws -> [[String: Any]] {
        let export = try call(app.port, "GET", "/api/projects/\(project)/exports/sft-messages\(query)", headers: ["Cookie": researcher.cookie])
        #expect(export.status == 200, "\(export.body)")
        return export.body.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// A demonstration corrected within the window: a new demonstration supersedes the old,
    /// which stays; counts, the queue, the data browser, exports and an SFT job's snapshot see
    /// the one in force, and an export as of a time before still holds the old text.
    @Test func aCorrectedDemonstrationSupersedesTheOldAndExportsAsOfEarlierKeepIt() throws {
        let app = try TallyTestServer()
        let rita = try signIn(app.port, "rita"), lena = try signIn(app.port, "lena")
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: write(rita), json: #"{"name": "Demonstrations"}"#).json["id"] as? Int)
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: write(rita), rawBody: #"{"prompt": "Name a prime."}"#).status == 200)
        let task = try call(app.port, "GET", "/api/projects/\(project)/next-demonstration", headers: ["Cookie": lena.cookie])
        let promptID = try #require((task.json["prompt"] as? [String: Any])?["id"] as? Int, "\(task.body)")
        let first = try call(app.port, "POST", "/api/prompts/\(promptID)/demonstrations", headers: write(lena), json: #"{"text": "Four."}"#)
        let original = try #require(first.json["id"] as? Int, "\(first.body)")
        usleep(20_000)
        let before = try #require(try app.database.read { try $0.queryScalarText("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')") })
        usleep(20_000)
        let twice = try call(app.port, "POST", "/api/prompts/\(promptID)/demonstrations", headers: write(lena), json: #"{"text": "Five."}"#)
        #expect(twice.status == 409 && twice.body.contains("correct it from your history"), "\(twice.body)")

        let history = try call(app.port, "GET", "/api/me/demonstrations", headers: ["Cookie": lena.cookie])
        let listed = try #require((history.json["demonstrations"] as? [[String: Any]])?.first, "\(history.body)")
        #expect(listed["id"] as? Int == original && listed["text"] as? String == "Four." && listed["correctable"] as? Bool == true
                && listed["projectName"] as? String == "Demonstrations", "\(listed)")
        let empty = try call(app.port, "POST", "/api/demonstrations/\(original)/corrections", headers: write(lena), json: #"{"text": "  "}"#)
        #expect(empty.status == 400 && empty.body.contains("field 'text' must not be empty"), "\(empty.body)")
        let same = try call(app.port, "POST", "/api/demonstrations/\(original)/corrections", headers: write(lena), json: #"{"text": "Four."}"#)
        #expect(same.status == 400 && same.body.contains("as it stands"), "\(same.body)")
        let corrected = try call(app.port, "POST", "/api/demonstrations/\(original)/corrections", headers: write(lena), json: #"{"text": "Two.", "secondsSpent": 3}"#)
        #expect(corrected.status == 201 && corrected.json["corrects"] as? Int == original, "\(corrected.body)")
        let correction = try #require(corrected.json["id"] as? Int)
        #expect(try app.database.read { try $0.queryScalarText("SELECT detail FROM audit_log WHERE action = 'demonstration.correct'") } == "corrected by demonstration \(correction)")

        // One label in force: the counts, the queue (still done for lena), exports now and as of before.
        let statistics = try call(app.port, "GET", "/api/projects/\(project)/statistics", headers: ["Cookie": rita.cookie])
        #expect(statistics.json["demonstrations"] as? Int == 1, "\(statistics.body.prefix(400))")
        #expect(try call(app.port, "GET", "/api/projects/\(project)/next-demonstration", headers: ["Cookie": lena.cookie]).json["prompt"] == nil)
        func answer(_ record: [String: Any]) -> String? { (record["messages"] as? [[String: Any]])?.last?["content"] as? String }
        #expect(try exportedDemonstrations(app, rita, project: project).map(answer) == ["Two."])
        #expect(try exportedDemonstrations(app, rita, project: project, query: "?until=\(before)").map(answer) == ["Four."])
        let labels = try call(app.port, "GET", "/api/prompts/\(promptID)/labels", headers: ["Cookie": rita.cookie])
        let shown = (labels.json["demonstrations"] as? [[String: Any]] ?? []).map { ($0["text"] as? String ?? "", $0["supersededAt"] is String, $0["correctsId"] as? Int) }
        #expect(shown.count == 2 && shown[0].0 == "Four." && shown[0].1 && shown[1].0 == "Two." && !shown[1].1 && shown[1].2 == original, "the history stays: \(labels.body)")

        // Not twice, not another's, not past the window.
        let again = try call(app.port, "POST", "/api/demonstrations/\(original)/corrections", headers: write(lena), json: #"{"text": "Three."}"#)
        #expect(again.status == 409 && again.body.contains("corrected already, by demonstration \(correction)"), "\(again.body)")
        let ada = try signIn(app.port, "ada")
        #expect(try call(app.port, "POST", "/api/users", headers: write(ada), json: #"{"username": "lars", "role": "labeler", "password": "\#(TallyTestServer.password)"}"#).status == 201)
        let lars = try signIn(app.port, "lars")
        #expect(try call(app.port, "GET", "/api/demonstrations/\(correction)", headers: ["Cookie": lars.cookie]).status == 404)
        #expect(try call(app.port, "PATCH", "/api/projects/\(project)", headers: write(rita), json: #"{"correctionMinutes": 0}"#).status == 200)
        let closed = try call(app.port, "POST", "/api/demonstrations/\(correction)/corrections", headers: write(lena), json: #"{"text": "Seven."}"#)
        #expect(closed.status == 409 && closed.body.contains("allows no corrections of demonstrations"), "\(closed.body)")
    }
}
