@testable import BackgroundTraining
import Foundation
import Labeling
import Logging
import Storage
import TallyTestSupport
import Testing
@testable import TallyServer

/// The model's check of the labels, through the worker with a tiny model, on a constructed case
/// whose answer is known: two labelers rank the fruit above the cat, a third always the other
/// way. Fitted without each labeler's labels, the head disputes every one of the contrary
/// labeler's preferences and none of the others'.
@Suite("Label checks by the model", .serialized)
struct LabelCheckTests {
    typealias Session = (cookie: String, csrf: String)

    private func writeHeaders(_ session: Session) -> [String: String] { ["Cookie": session.cookie, "X-CSRF-Token": session.csrf] }

    /// Ranks the next task of `labeler`'s queue, the banana first unless `contrary`.
    private func rankNext(_ app: TallyTestServer, project: Int, _ labeler: Session, contrary: Bool) throws {
        let next = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": labeler.cookie])
        let prompt = try #require(next.json["prompt"] as? [String: Any], "\(next.body)")
        let shown = prompt["candidates"] as? [[String: Any]] ?? []
        let candidates = shown.sorted { (($0["text"] as! String) == "a banana") != contrary && (($1["text"] as! String) == "a banana") == contrary }
        let entries = candidates.enumerated().map { #"{"candidateId": \#($1["id"] as! Int), "rank": \#($0 + 1), "rating": \#(7 - 6 * $0)}"# }.joined(separator: ",")
        let ranked = try call(app.port, "POST", "/api/prompts/\(prompt["id"] as! Int)/rankings", headers: writeHeaders(labeler),
                              json: #"{"entries": [\#(entries)], "shownOrder": \#(shown.map { $0["id"] as! Int })}"#)
        #expect(ranked.status == 201, "\(ranked.body)")
    }

    @Test func theContraryLabelersPreferencesAreDisputedAndNoOneElses() throws {
        let app = try TallyTestServer()
        let rita = try signIn(app.port, "rita"), ada = try signIn(app.port, "ada")
        var labelers: [String: (session: Session, id: Int)] = [:]
        for name in ["honest-one", "honest-two", "contrary"] {
            let created = try call(app.port, "POST", "/api/users", headers: writeHeaders(ada),
                                   json: #"{"username": "\#(name)", "role": "labeler", "password": "\#(TallyTestServer.password)"}"#)
            #expect(created.status == 201, "\(created.body)")
            labelers[name] = (try signIn(app.port, name), try #require(created.json["id"] as? Int))
        }
        let created = try call(app.port, "POST", "/api/projects", headers: writeHeaders(rita), json: #"{"name": "Checked", "rankingSize": 2, "overlap": 1}"#)
        let project = try #require(created.json["id"] as? Int, "\(created.body)")
        let lines = (0..<15).map { #"{"prompt": "name a fruit \#($0).", "candidates": [{"text": "a banana", "model": "m1"}, {"text": "the cat sat on the mat", "model": "m2"}]}"# }
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: writeHeaders(rita), rawBody: lines.joined(separator: "\n")).status == 200)
        for _ in 0..<6 {
            try rankNext(app, project: project, labelers["honest-one"]!.session, contrary: false)
            try rankNext(app, project: project, labelers["honest-two"]!.session, contrary: false)
        }
        for _ in 0..<3 { try rankNext(app, project: project, labelers["contrary"]!.session, contrary: true) }

        // Before any reward job: nothing checked, nothing listed.
        let before = try call(app.port, "GET", "/api/projects/\(project)/label-checks", headers: ["Cookie": rita.cookie])
        #expect(before.status == 200 && (before.json["rankings"] as? [Any])?.isEmpty == true, "\(before.body)")

        let added = try CommandLineTests.tally(["model", "add", "--database", app.databasePath, "--path", try TrainingCommandTests.tinyModelFolder(), "--name", "tiny-base"])
        #expect(added.status == 0, "\(added.errorOutput)")
        let base = try #require(try app.database.read { try $0.queryScalarInt("SELECT id FROM model_versions WHERE name = 'tiny-base'") })
        let wrong = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita),
                             json: #"{"kind": "reward", "baseModelId": \#(base), "parameters": {"check-labels": "yes"}}"#)
        #expect(wrong.status == 400 && wrong.body.contains("check-labels"), "\(wrong.body)")
        let queued = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita),
                              json: #"{"kind": "reward", "baseModelId": \#(base), "parameters": {"epochs": 1, "validation-fraction": 0}}"#)
        let jobID = try #require(queued.json["id"] as? Int, "\(queued.body)")
        var configuration = Worker.Configuration(modelsDirectory: TemporaryFiles.path("label-check-models"))
        configuration.threads = 1
        var logger = Logger(label: "test-worker")
        logger.logLevel = .critical
        let worker = try Worker(database: app.database, configuration: configuration, logger: logger)
        #expect(try worker.runNextJob())
        let job = try call(app.port, "GET", "/api/jobs/\(jobID)", headers: ["Cookie": rita.cookie]).json
        let log = (job["log"] as? [[String: Any]] ?? []).compactMap { $0["line"] as? String }
        #expect(log.contains { $0.hasPrefix("Checked the labels with the model: 15 rankings of 3 labelers in 3 folds, 3 of 15 preferences confidently disputed") }, "\(log)")

        let quality = try call(app.port, "GET", "/api/projects/\(project)/quality", headers: ["Cookie": rita.cookie])
        let byName = Dictionary(uniqueKeysWithValues: (quality.json["labelers"] as? [[String: Any]] ?? []).map { ($0["username"] as! String, $0["modelCheck"] as? [String: Any]) })
        #expect(byName["contrary"]??["share"] as? Double == 1 && byName["contrary"]??["pairs"] as? Int == 3, "\(quality.body)")
        #expect(byName["honest-one"]??["share"] as? Double == 0 && byName["honest-two"]??["confidentDisagreements"] as? Int == 0, "\(quality.body)")

        let listed = try call(app.port, "GET", "/api/projects/\(project)/label-checks", headers: ["Cookie": rita.cookie])
        let rankings = listed.json["rankings"] as? [[String: Any]] ?? []
        #expect(rankings.count == 3 && rankings.allSatisfy { $0["username"] as? String == "contrary" && ($0["strongestDisagreement"] as? Double ?? 0) >= 0.8 }, "\(listed.body)")
        let ofHonest = try call(app.port, "GET", "/api/projects/\(project)/label-checks?labeler=\(labelers["honest-one"]!.id)", headers: ["Cookie": rita.cookie])
        #expect((ofHonest.json["rankings"] as? [Any])?.isEmpty == true, "\(ofHonest.body)")
        let badQuery = try call(app.port, "GET", "/api/projects/\(project)/label-checks?limit=0", headers: ["Cookie": rita.cookie])
        #expect(badQuery.status == 400 && badQuery.body.contains("'limit' must be an integer from 1 to 200"), "\(badQuery.body)")
        let unknown = try call(app.port, "GET", "/api/projects/\(project)/label-checks?labeller=1", headers: ["Cookie": rita.cookie])
        #expect(unknown.status == 400, "\(unknown.body)")
        #expect(try call(app.port, "GET", "/api/projects/999/label-checks", headers: ["Cookie": rita.cookie]).status == 404)
        let lena = try signIn(app.port, "lena")
        #expect(try call(app.port, "GET", "/api/projects/\(project)/label-checks", headers: ["Cookie": lena.cookie]).status == 403)

        // AI labels: the new reward model ranks the same prompts as a labeler would, kept apart.
        let rewardModel = try #require((job["model"] as? [String: Any])?["id"] as? Int, "\(job)")
        let emptyRubric = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita), json: #"{"kind": "ai-labels", "baseModelId": \#(base), "parameters": {"rubric": " "}}"#)
        #expect(emptyRubric.status == 400 && emptyRubric.body.contains("parameter 'rubric'"), "\(emptyRubric.body)")
        let labeling = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita), json: #"{"kind": "ai-labels", "baseModelId": \#(rewardModel)}"#)
        let labelingJob = try #require(labeling.json["id"] as? Int, "\(labeling.body)")
        #expect(try worker.runNextJob())
        #expect((try call(app.port, "GET", "/api/jobs/\(labelingJob)", headers: ["Cookie": rita.cookie]).json["job"] as? [String: Any])?["status"] as? String == "succeeded")
        // Measured as a labeler: its agreement with people, counted here by hand from the stored ranks.
        let agreeing = try #require(try app.database.read { try $0.queryScalarInt("""
            SELECT count(*) FROM ai_rankings a JOIN current_rankings r ON r.prompt_id = a.prompt_id
            WHERE ((SELECT e.rank FROM ai_ranking_entries e JOIN candidates c ON c.id = e.candidate_id WHERE e.ai_ranking_id = a.id AND c.text = 'a banana')
                   - (SELECT e.rank FROM ai_ranking_entries e JOIN candidates c ON c.id = e.candidate_id WHERE e.ai_ranking_id = a.id AND c.text <> 'a banana'))
                * ((SELECT e.rank FROM ranking_entries e JOIN candidates c ON c.id = e.candidate_id WHERE e.ranking_id = r.id AND c.text = 'a banana')
                   - (SELECT e.rank FROM ranking_entries e JOIN candidates c ON c.id = e.candidate_id WHERE e.ranking_id = r.id AND c.text <> 'a banana')) > 0
            """) })
        let report = try call(app.port, "GET", "/api/projects/\(project)/quality", headers: ["Cookie": rita.cookie]).json
        let judge = try #require((report["aiLabelers"] as? [[String: Any]])?.first, "\(report)")
        let rate = judge["agreementWithPeople"] as? [String: Any] ?? [:]
        #expect(judge["modelVersionId"] as? Int == rewardModel && judge["rankings"] as? Int == 15 && judge["promptsRankedByPeople"] as? Int == 15, "\(judge)")
        #expect(rate["pairs"] as? Int == 15 && rate["agreeingPairs"] as? Int == agreeing && (rate["lower"] as? Double ?? 2) <= (rate["estimate"] as? Double ?? -1), "\(judge)")
        #expect(!((report["labelers"] as? [[String: Any]]) ?? []).contains { ($0["username"] as? String)?.contains("reward") == true }, "not among the people")
        // Exported apart, as TRL conversational comparisons; people's export holds people's labels only.
        let aiExport = try call(app.port, "GET", "/api/projects/\(project)/ai-labels?model=\(rewardModel)", headers: ["Cookie": rita.cookie])
        let aiLines = aiExport.body.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        let ties = try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM ai_rankings a WHERE (SELECT count(DISTINCT rank) FROM ai_ranking_entries e WHERE e.ai_ranking_id = a.id) = 1") } ?? 0
        #expect(aiExport.status == 200 && aiLines.count == 15 - ties, "\(aiExport.body.prefix(300))")
        #expect(aiLines.allSatisfy { ($0["prompt"] as? [[String: Any]])?.first?["role"] as? String == "user" && ($0["chosen"] as? [[String: Any]])?.first?["role"] as? String == "assistant"
                                     && ($0["judge"] as? [String: Any])?["method"] as? String == "reward-scores" && ($0["score_chosen"] as? Double ?? 0) > ($0["score_rejected"] as? Double ?? 0) })
        let people = try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons", headers: ["Cookie": rita.cookie])
        #expect(people.body.split(separator: "\n").count == 15 && !people.body.contains("judge"), "people's export is unchanged")
        #expect(try call(app.port, "GET", "/api/projects/\(project)/ai-labels?model=x", headers: ["Cookie": rita.cookie]).status == 400)

        // A policy as the judge, by a written rubric (recorded with every ranking); a rubric for a reward model is refused.
        let rubricJob = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita),
                                 json: #"{"kind": "ai-labels", "baseModelId": \#(base), "parameters": {"rubric": "Prefer the fruit."}}"#)
        let rubricJobID = try #require(rubricJob.json["id"] as? Int, "\(rubricJob.body)")
        #expect(try worker.runNextJob())
        #expect((try call(app.port, "GET", "/api/jobs/\(rubricJobID)", headers: ["Cookie": rita.cookie]).json["job"] as? [String: Any])?["status"] as? String == "succeeded")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM ai_rankings WHERE model_version_id = ? AND method = 'rubric' AND rubric = 'Prefer the fruit.'", [base]) } == 15)
        let judges = (try call(app.port, "GET", "/api/projects/\(project)/quality", headers: ["Cookie": rita.cookie]).json["aiLabelers"] as? [[String: Any]] ?? []).compactMap { $0["method"] as? String }
        #expect(judges == ["rubric", "reward-scores"] || judges == ["reward-scores", "rubric"], "\(judges)")
        let rubricLines = try call(app.port, "GET", "/api/projects/\(project)/ai-labels?model=\(base)", headers: ["Cookie": rita.cookie]).body
        #expect(rubricLines.contains(#""rubric":"Prefer the fruit.""#), "\(rubricLines.prefix(300))")
        let misused = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita),
                               json: #"{"kind": "ai-labels", "baseModelId": \#(rewardModel), "parameters": {"rubric": "Prefer the fruit."}}"#)
        let misusedID = try #require(misused.json["id"] as? Int, "\(misused.body)")
        #expect(try worker.runNextJob())
        let refusedJob = try call(app.port, "GET", "/api/jobs/\(misusedID)", headers: ["Cookie": rita.cookie]).json["job"] as? [String: Any] ?? [:]
        #expect(refusedJob["status"] as? String == "failed" && (refusedJob["error"] as? String)?.contains("a reward model judges by its scores") == true, "\(refusedJob)")
    }
}
