import Foundation
import Labeling
import Storage
import Testing
@testable import TallyServer

/// The reward-hacking watch against people, over HTTP: a policy an RLOO job made, which its
/// reward model scores above its opponent on every held-out prompt while the labeler prefers
/// the opponent every time. The evaluation answers, their rewards and the jobs are written as
/// the worker writes them (the evaluation job's scoring is tested in TrainingLoopTests); the
/// verdicts come through the labeler's route, and the alarm rings at the tenth, not before.
@Suite("Reward model against human evaluation", .serialized)
struct RewardHumanGapTests {
    typealias Session = (cookie: String, csrf: String)

    private func writeHeaders(_ session: Session) -> [String: String] { ["Cookie": session.cookie, "X-CSRF-Token": session.csrf] }

    @Test func theAlarmRingsWhenTheRewardModelFavoursWhatPeopleDoNot() throws {
        let app = try TallyTestServer()
        let rita = try signIn(app.port, "rita"), lena = try signIn(app.port, "lena")
        let created = try call(app.port, "POST", "/api/projects", headers: writeHeaders(rita), json: #"{"name": "Watched", "overlap": 1}"#)
        let project = try #require(created.json["id"] as? Int, "\(created.body)")
        let wrong = try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(rita), json: #"{"alarmRewardHumanGap": 1}"#)
        #expect(wrong.status == 400 && wrong.body.contains("field 'alarmRewardHumanGap' must be 0 (off) or a share below 1"), "\(wrong.body)")
        let patched = try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(rita), json: #"{"alarmRewardHumanGap": 0.2}"#)
        #expect(patched.status == 200 && patched.json["alarmRewardHumanGap"] as? Double == 0.2, "\(patched.body)")
        let lines = (0..<12).map { #"{"prompt": "held-out question \#($0)", "split": "test"}"# }
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: writeHeaders(rita), rawBody: lines.joined(separator: "\n")).status == 200)

        let (policyJob, opponent) = try app.database.write { database -> (Int, Int) in
            func version(_ name: String, _ kind: String, job: Int? = nil) throws -> Int {
                try database.execute("""
                    INSERT INTO model_versions (name, kind, job_id, architecture, checkpoint_path, checkpoint_sha256, parameter_count)
                    VALUES (?, ?, ?, 'llama', '/nowhere', ?, 1)
                    """, [name, kind, job, String(repeating: "0", count: 64)])
                return Int(database.lastInsertRowID)
            }
            let base = try version("base", "policy"), reward = try version("reward", "reward")
            try database.execute("INSERT INTO jobs (project_id, kind, status, base_model_id, reward_model_id) VALUES (?, 'rloo', 'succeeded', ?, ?)", [project, base, reward])
            let job = Int(database.lastInsertRowID)
            let policy = try version("policy", "policy", job: job)
            let prompts = try database.query("SELECT id FROM prompts WHERE project_id = ? ORDER BY id", [project]).map { try $0.int("id") }
            for (index, prompt) in prompts.enumerated() {
                var answers: [Int: Int] = [:]
                for (model, score) in [(policy, 2.0), (base, -1.0)] {
                    try database.execute("INSERT INTO evaluation_answers (prompt_id, model_version_id, text, ended) VALUES (?, ?, ?, 1)", [prompt, model, "answer of \(model)"])
                    answers[model] = Int(database.lastInsertRowID)
                    try database.execute("INSERT INTO evaluation_rewards (answer_id, reward_model_id, reward) VALUES (?, ?, ?)", [answers[model]!, reward, score])
                }
                let (left, right) = index % 2 == 0 ? (answers[policy]!, answers[base]!) : (answers[base]!, answers[policy]!)
                try database.execute("INSERT INTO evaluation_pairs (project_id, prompt_id, left_answer_id, right_answer_id) VALUES (?, ?, ?, ?)", [project, prompt, left, right])
            }
            return (job, base)
        }

        func alarms() throws -> [[String: Any]] {
            try call(app.port, "GET", "/api/jobs/\(policyJob)", headers: ["Cookie": rita.cookie]).json["alarms"] as? [[String: Any]] ?? []
        }
        // The labeler prefers the opponent's answer on every pair.
        for verdict in 1...12 {
            let next = try call(app.port, "GET", "/api/projects/\(project)/next-evaluation", headers: ["Cookie": lena.cookie])
            let pair = try #require(next.json["pair"] as? [String: Any], "\(next.body)")
            let pairID = try #require(pair["id"] as? Int)
            let leftModel = try #require(try app.database.read {
                try $0.queryScalarInt("SELECT a.model_version_id FROM evaluation_pairs e JOIN evaluation_answers a ON a.id = e.left_answer_id WHERE e.id = ?", [pairID])
            })
            let preference = leftModel == opponent ? "left" : "right"
            #expect(try call(app.port, "POST", "/api/evaluation-pairs/\(pairID)/judgments", headers: writeHeaders(lena), json: #"{"preference": "\#(preference)"}"#).status == 201)
            let raised = try alarms()
            #expect(raised.count == (verdict < RewardHumanGapWatch.minimumVerdicts ? 0 : 1), "after verdict \(verdict): \(raised)")
        }
        let alarm = try #require(try alarms().first)
        #expect(alarm["kind"] as? String == "human_evaluation" && alarm["step"] as? Int == RewardHumanGapWatch.minimumVerdicts, "raised once, at the tenth verdict: \(alarm)")
        #expect(alarm["value"] as? Double == 1 && alarm["baseline"] as? Double == 0, "\(alarm)")
        #expect((alarm["message"] as? String)?.contains("prefers this policy's answers in 100% of the 10 evaluation pairs people judged, people in 0%") == true, "\(alarm)")
        let log = (try call(app.port, "GET", "/api/jobs/\(policyJob)", headers: ["Cookie": rita.cookie]).json["log"] as? [[String: Any]] ?? []).compactMap { $0["line"] as? String }
        #expect(log.filter { $0.hasPrefix("Reward-hacking alarm: The reward model prefers this policy's answers") }.count == 1, "\(log)")
    }
}
