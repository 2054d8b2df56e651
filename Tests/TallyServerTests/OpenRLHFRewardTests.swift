import Foundation
import TallyTestSupport
import Testing
import Training
import TransformerCore
@testable import TallyServer

/// OpenRLHF's remote reward protocol over real sockets with a tiny reward model: the URL's
/// secret, pads stripped, queries read with the reward model's own template and scored as
/// Tally scores them, concurrent requests batched, other templates refused, revocation.
@Suite("OpenRLHF remote reward model")
struct OpenRLHFRewardTests {
    @Test func scoresOpenRLHFsQueriesWithTheRewardModelsOwnTemplate() throws {
        let app = try TallyTestServer()
        let data = try TrainingCommandTests.write(TrainingCommandTests.pairs(16), name: "openrlhf-pairs.jsonl")
        let folder = TemporaryFiles.path("openrlhf-reward")
        let trained = try CommandLineTests.tally(["train", "reward", "--model", try TrainingCommandTests.tinyModelFolder(), "--data", data, "--output", folder,
                                                  "--learning-rate", "3e-3", "--epochs", "2", "--validation-fraction", "0"])
        #expect(trained.status == 0, "\(trained.errorOutput)")
        #expect(try CommandLineTests.tally(["model", "add", "--database", app.databasePath, "--path", folder, "--name", "tiny-reward", "--reward"]).status == 0)
        #expect(try CommandLineTests.tally(["model", "add", "--database", app.databasePath, "--path", try TrainingCommandTests.tinyModelFolder(), "--name", "tiny-policy"]).status == 0)
        let (rewardID, policyID) = try app.database.read { database in
            (try database.queryScalarInt("SELECT id FROM model_versions WHERE name = 'tiny-reward'")!, try database.queryScalarInt("SELECT id FROM model_versions WHERE name = 'tiny-policy'")!)
        }
        let rita = try signIn(app.port, "rita"), lena = try signIn(app.port, "lena")
        let headers = ["Cookie": rita.cookie, "X-CSRF-Token": rita.csrf]
        #expect(try call(app.port, "POST", "/api/models/\(rewardID)/reward-endpoints", headers: ["Cookie": lena.cookie, "X-CSRF-Token": lena.csrf], json: #"{"name": "ppo run"}"#).status == 403)
        let policyEndpoint = try call(app.port, "POST", "/api/models/\(policyID)/reward-endpoints", headers: headers, json: #"{"name": "ppo run"}"#)
        #expect(policyEndpoint.status == 400 && policyEndpoint.body.contains("only a reward model scores"), "\(policyEndpoint.body)")
        let created = try call(app.port, "POST", "/api/models/\(rewardID)/reward-endpoints", headers: headers, json: #"{"name": "ppo run"}"#)
        let path = try #require(created.json["path"] as? String, "\(created.body)")
        #expect(path.hasPrefix("/openrlhf/") && path.hasSuffix("/get_reward"))

        // What Tally itself gives the same conversations.
        let model = try RewardModel(contentsOf: folder)
        let conversations: [(prompt: [ChatTemplate.Message], answer: String)] = [
            ([ChatTemplate.Message(role: "user", content: "name a fruit 1.")], "a banana"),
            ([ChatTemplate.Message(role: "user", content: "name a fruit 2.")], "the cat sat on the mat"),
        ]
        let expected = try model.rewards(of: conversations)
        let template = try #require(model.base.chatTemplate)
        let pad = String(decoding: model.base.tokenizer.decodeBytes([model.padToken]), as: UTF8.self)
        #expect(!pad.isEmpty, "the pad token has a text to strip")
        // As OpenRLHF sends them: the policy's decoded sequences, left-padded, with the end token.
        let queries = conversations.enumerated().map { index, conversation in
            String(repeating: pad, count: 3 * index) + template.render(conversation.prompt + [ChatTemplate.Message(role: "assistant", content: conversation.answer)], addGenerationPrompt: false)
        }
        @Sendable func body(_ queries: [String]) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: ["query": queries, "prompts": queries.map { _ in "" }, "labels": queries.map { _ in NSNull() }]), as: UTF8.self)
        }
        let scored = try call(app.port, "POST", path, json: try body(queries))
        #expect(scored.status == 200, "\(scored.body)")
        let rewards = scored.json["rewards"] as? [Double] ?? []
        #expect(rewards.count == 2 && zip(rewards, expected).allSatisfy { abs($0 - Double($1)) < 1e-4 }, "\(rewards) against \(expected)")
        #expect(scored.json["scores"] as? [Double] == rewards && scored.json["extra_logs"] is [String: Any])

        // Concurrent requests are queued and batched, each answered with its own rewards.
        let answers = Guarded<[Int: [Double]]>([:])
        let bodies = try queries.map { try body([$0]) }
        DispatchQueue.concurrentPerform(iterations: 6) { index in
            let response = try? call(app.port, "POST", path, json: bodies[index % 2])
            answers.withLock { $0[index] = response?.json["rewards"] as? [Double] ?? [] }
        }
        for (index, answer) in answers.withLock({ $0 }) {
            #expect(answer.count == 1 && abs(answer[0] - Double(expected[index % 2])) < 1e-4, "request \(index): \(answer)")
        }

        // A query in another template is refused by number; a wrong body by field.
        let foreign = try call(app.port, "POST", path, json: try body([queries[0], "\n\nHuman: name a fruit\n\nAssistant: a banana"]))
        #expect(foreign.status == 400 && foreign.body.contains("query 1 is not a conversation") && foreign.body.contains("chat template"), "\(foreign.body)")
        #expect(try call(app.port, "POST", path, json: #"{"query": []}"#).status == 400)
        #expect(try call(app.port, "POST", path, json: #"{"query": ["x"], "prompts": []}"#).status == 400)
        #expect(try call(app.port, "POST", "/openrlhf/not-a-secret/get_reward", json: try body(queries)).status == 404)

        let endpointID = try #require((created.json["endpoint"] as? [String: Any])?["id"] as? Int)
        let listed = try call(app.port, "GET", "/api/models/\(rewardID)/reward-endpoints", headers: headers)
        #expect(((listed.json["endpoints"] as? [[String: Any]])?.first?["queriesScored"] as? Int ?? 0) >= 8, "\(listed.body)")
        #expect(!listed.body.contains(String(path.dropFirst("/openrlhf/".count).prefix(20))), "the secret is shown only once")
        #expect(try call(app.port, "DELETE", "/api/reward-endpoints/\(endpointID)", headers: headers).status == 200)
        #expect(try call(app.port, "POST", path, json: try body(queries)).status == 404, "a revoked URL is refused")
        #expect(try call(app.port, "DELETE", "/api/reward-endpoints/\(endpointID)", headers: headers).status == 409)
    }
}
