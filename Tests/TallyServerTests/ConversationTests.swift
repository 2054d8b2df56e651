import Cryptography
import Foundation
import HTTP
import Labeling
import TallyTestSupport
import Testing
@testable import TallyServer

/// Live conversations over real sockets with tiny registered models: a labeler's message, two
/// answers streamed as server-sent events, the choice on the graded scale, the chosen answer
/// carried into the next turn, every turn exported as a comparison, and what is refused.
@Suite("Live conversations over HTTP", .serialized)
struct ConversationTests {
    /// A server with the tiny model registered twice (as two versions), a project of rita's and
    /// the ids of both versions.
    private func setUp() throws -> (app: TallyTestServer, project: Int, models: [Int]) {
        let app = try TallyTestServer()
        for name in ["tiny-left", "tiny-right"] {
            let added = try CommandLineTests.tally(["model", "add", "--database", app.databasePath, "--path", try TrainingCommandTests.tinyModelFolder(), "--name", name])
            #expect(added.status == 0, "\(added.errorOutput)")
        }
        try app.database.write { database in
            _ = try UserRepository().create(username: "leo", role: .labeler, passwordHash: PasswordHasher(iterations: 1000).hash(TallyTestServer.password), in: database)
        }
        let models = try app.database.read { try $0.query("SELECT id FROM model_versions WHERE name LIKE 'tiny-%' ORDER BY name").map { try $0.int("id") } }
        let rita = try signIn(app.port, "rita")
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: ["Cookie": rita.cookie, "X-CSRF-Token": rita.csrf],
                                            json: #"{"name": "Live"}"#).json["id"] as? Int)
        return (app, project, models)
    }

    private func configure(_ app: TallyTestServer, _ project: Int, _ body: String) throws -> APIResponse {
        let rita = try signIn(app.port, "rita")
        return try call(app.port, "PUT", "/api/projects/\(project)/live-settings", headers: ["Cookie": rita.cookie, "X-CSRF-Token": rita.csrf], json: body)
    }

    /// The events of a message's answer: (event name, parsed data).
    private func events(_ body: String) -> [(String, [String: Any])] {
        body.components(separatedBy: "\n\n").compactMap { block in
            let lines = block.components(separatedBy: "\n")
            guard let name = lines.first(where: { $0.hasPrefix("event: ") })?.dropFirst(7) else { return nil }
            let data = lines.filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }.joined(separator: "\n")
            return (String(name), (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:])
        }
    }

    private func send(_ app: TallyTestServer, _ labeler: (cookie: String, csrf: String), _ conversation: Int, _ message: String) throws -> APIResponse {
        let body = String(data: try JSONSerialization.data(withJSONObject: ["content": message]), encoding: .utf8)!
        return try call(app.port, "POST", "/api/conversations/\(conversation)/messages", headers: ["Cookie": labeler.cookie, "X-CSRF-Token": labeler.csrf], json: body,
                        timeoutSeconds: 60)
    }

    private func choice(_ turn: [String: Any], winner: Int, strength: Int) -> String {
        let ids = (turn["answers"] as? [[String: Any]] ?? []).map { $0["candidateId"] as? Int ?? 0 }
        return #"{"entries": [{"candidateId": \#(ids[0]), "rank": \#(winner == 0 ? 1 : 2)}, {"candidateId": \#(ids[1]), "rank": \#(winner == 1 ? 1 : 2)}], "strength": \#(strength), "shownOrder": [\#(ids[0]), \#(ids[1])]}"#
    }

    @Test func everyTurnIsAStoredComparisonAndTheChosenAnswerGoesOn() throws {
        let (app, project, models) = try setUp()
        // Researchers choose the models; a labeler may not, and nonsense is refused by field.
        let lena = try signIn(app.port, "lena")
        let labelerHeaders = ["Cookie": lena.cookie, "X-CSRF-Token": lena.csrf]
        #expect(try call(app.port, "POST", "/api/projects/\(project)/conversations", headers: labelerHeaders).status == 409, "no models yet")
        #expect(try call(app.port, "PUT", "/api/projects/\(project)/live-settings", headers: labelerHeaders, json: #"{"modelIds": [\#(models[0])]}"#).status == 403)
        let missing = try configure(app, project, #"{"modelIds": [\#(models[0]), 999]}"#)
        #expect(missing.status == 400 && missing.body.contains("'modelIds[1]': there is no model version 999"), "\(missing.body)")
        let hot = try configure(app, project, #"{"modelIds": [\#(models[0])], "temperature": 3}"#)
        #expect(hot.status == 400 && hot.body.contains("'temperature' must be from 0"), "\(hot.body)")
        let twice = try configure(app, project, #"{"modelIds": [\#(models[0]), \#(models[0])]}"#)
        #expect(twice.status == 400 && twice.body.contains("twice"), "\(twice.body)")
        let set = try configure(app, project, #"{"modelIds": [\#(models[0]), \#(models[1])], "maximumTokens": 12, "temperature": 0.9}"#)
        #expect(set.status == 200 && set.json["maximumTokens"] as? Int == 12 && (set.json["modelIds"] as? [Int])?.count == 2, "\(set.body)")

        let queueBefore = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": try signIn(app.port, "leo").cookie]).json["remaining"] as? Int
        let list = try call(app.port, "GET", "/api/projects/\(project)/conversations", headers: labelerHeaders)
        #expect(list.json["available"] as? Bool == true && (list.json["conversations"] as? [Any])?.isEmpty == true, "\(list.body)")
        let started = try call(app.port, "POST", "/api/projects/\(project)/conversations", headers: labelerHeaders)
        #expect(started.status == 201 && started.json["awaitsMessage"] as? Bool == true, "\(started.body)")
        let conversation = try #require(started.json["id"] as? Int)

        // The first message: both answers stream, side by side, then the stored turn.
        let first = try send(app, lena, conversation, "Name a fruit.")
        #expect(first.status == 200 && first.header("Content-Type")?.hasPrefix("text/event-stream") == true, "\(first.body)")
        let firstEvents = events(first.body)
        let turnOne = try #require(firstEvents.last { $0.0 == "turn" }?.1, "\(first.body)")
        let answers = turnOne["answers"] as? [[String: Any]] ?? []
        #expect(turnOne["turn"] as? Int == 1 && turnOne["message"] as? String == "Name a fruit." && answers.count == 2, "\(turnOne)")
        // Two versions answered together, each on half the kernel threads (in turn on one core).
        let pairsRun = app.application.generator.pairsRun
        #expect(pairsRun.together + pairsRun.inTurn == 1 && (app.application.generator.configuration.threads < 2 || pairsRun.together == 1), "\(pairsRun)")
        for (index, side) in ["a", "b"].enumerated() {
            let streamed = firstEvents.filter { $0.0 == "answer" && $0.1["side"] as? String == side }.compactMap { $0.1["text"] as? String }.joined()
            #expect(streamed == answers[index]["text"] as? String, "side \(side): the streamed pieces make the stored answer")
            #expect((answers[index]["answerMilliseconds"] as? Double ?? -1) >= (answers[index]["firstTextMilliseconds"] as? Double ?? 0))
        }

        // No second message before a choice; a choice is checked as a graded pair is.
        let early = try send(app, lena, conversation, "And another?")
        #expect(early.status == 409 && early.body.contains("choose the better answer of turn 1 first"), "\(early.body)")
        let noStrength = try call(app.port, "POST", "/api/conversations/\(conversation)/turns/1/choice", headers: labelerHeaders,
                                  json: choice(turnOne, winner: 1, strength: 3).replacingOccurrences(of: #""strength": 3, "#, with: ""))
        #expect(noStrength.status == 400 && noStrength.body.contains("'strength' is missing"), "\(noStrength.body)")
        let promptOne = try #require(turnOne["promptId"] as? Int)
        let elsewhere = try call(app.port, "POST", "/api/prompts/\(promptOne)/rankings", headers: labelerHeaders, json: choice(turnOne, winner: 1, strength: 3))
        #expect(elsewhere.status == 409 && elsewhere.body.contains("is a turn of live conversation"), "\(elsewhere.body)")
        let chosen = try call(app.port, "POST", "/api/conversations/\(conversation)/turns/1/choice", headers: labelerHeaders, json: choice(turnOne, winner: 1, strength: 3))
        #expect(chosen.status == 201, "\(chosen.body)")
        let again = try call(app.port, "POST", "/api/conversations/\(conversation)/turns/1/choice", headers: labelerHeaders, json: choice(turnOne, winner: 0, strength: 2))
        #expect(again.status == 409, "\(again.body)")

        // The second turn's prompt is the conversation so far, with B's answer chosen.
        let second = try send(app, lena, conversation, "Why that one?")
        let turnTwo = try #require(events(second.body).last { $0.0 == "turn" }?.1, "\(second.body)")
        let promptTwo = try #require(turnTwo["promptId"] as? Int)
        let stored = try app.database.read { try $0.queryScalarText("SELECT content FROM prompts WHERE id = ?", [promptTwo]) } ?? ""
        let turns = (try JSONSerialization.jsonObject(with: Data(stored.utf8))) as? [[String: String]] ?? []
        #expect(turns.map { $0["role"] ?? "" } == ["user", "assistant", "user"] && turns[0]["content"] == "Name a fruit."
                && turns[1]["content"] == answers[1]["text"] as? String && turns[2]["content"] == "Why that one?", "\(stored)")
        #expect(try call(app.port, "POST", "/api/conversations/\(conversation)/turns/2/choice", headers: labelerHeaders, json: choice(turnTwo, winner: 0, strength: 1)).status == 201)

        // The candidates are the two versions' answers, the turns never enter a queue, and each
        // turn exports as a comparison whose prompt is the conversation so far.
        let writers = try app.database.read { try $0.query("SELECT DISTINCT model_version_id FROM candidates WHERE prompt_id IN (?, ?)", [promptOne, promptTwo]).map { try $0.int("model_version_id") } }
        #expect(Set(writers) == Set(models), "\(writers)")
        let queueAfter = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": try signIn(app.port, "leo").cookie]).json["remaining"] as? Int
        #expect(queueBefore == queueAfter, "live turns are not handed to other labelers")
        let rita = try signIn(app.port, "rita")
        let export = try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons?margin=strength", headers: ["Cookie": rita.cookie])
        let pairs = export.body.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        #expect(pairs.count == 2 && pairs.map { $0["margin"] as? Int } == [3, 1], "\(export.body)")
        #expect((pairs.last?["prompt"] as? [[String: Any]])?.count == 3, "the second turn's prompt holds the conversation so far")
        // The data browser shows either turn's prompt with the whole conversation as one thread.
        let labels = try call(app.port, "GET", "/api/prompts/\(promptOne)/labels", headers: ["Cookie": rita.cookie])
        let thread = try #require(labels.json["conversation"] as? [String: Any], "\(labels.body)")
        let threadTurns = thread["turns"] as? [[String: Any]] ?? []
        #expect(thread["id"] as? Int == conversation && thread["turn"] as? Int == 1 && (thread["labeler"] as? [String: Any])?["username"] as? String == "lena", "\(thread)")
        #expect(threadTurns.map { $0["promptId"] as? Int } == [promptOne, promptTwo] && threadTurns.map { $0["message"] as? String } == ["Name a fruit.", "Why that one?"], "\(thread)")
        #expect(threadTurns[0]["chosenId"] as? Int == answers[1]["candidateId"] as? Int && threadTurns[0]["strength"] as? Double == 3, "\(thread)")
        #expect(Set([thread["modelAId"] as? Int, thread["modelBId"] as? Int].compactMap { $0 }) == Set(models), "\(thread)")
        #expect(try call(app.port, "GET", "/api/prompts/\(promptTwo)/labels", headers: ["Cookie": rita.cookie]).json["conversation"].flatMap { ($0 as? [String: Any])?["turn"] as? Int } == 2)

        // Another labeler cannot see it; an ended conversation takes no message.
        let leo = try signIn(app.port, "leo")
        #expect(try call(app.port, "GET", "/api/conversations/\(conversation)", headers: ["Cookie": leo.cookie]).status == 404)
        let ended = try call(app.port, "POST", "/api/conversations/\(conversation)/end", headers: labelerHeaders)
        #expect(ended.status == 200 && ended.json["endedAt"] is String && (ended.json["turns"] as? [Any])?.count == 2, "\(ended.body)")
        let late = try send(app, lena, conversation, "Still there?")
        #expect(late.status == 409 && late.body.contains("has ended"), "\(late.body)")
        let listed = try call(app.port, "GET", "/api/projects/\(project)/conversations", headers: labelerHeaders)
        #expect((listed.json["conversations"] as? [[String: Any]])?.first?["turns"] as? Int == 2, "\(listed.body)")
    }

    @Test func oneVersionAnswersTwiceAndBadMessagesAreRefused() throws {
        let (app, project, models) = try setUp()
        #expect(try configure(app, project, #"{"modelIds": [\#(models[0])], "maximumTokens": 8}"#).status == 200)
        let lena = try signIn(app.port, "lena")
        let headers = ["Cookie": lena.cookie, "X-CSRF-Token": lena.csrf]
        let conversation = try #require(try call(app.port, "POST", "/api/projects/\(project)/conversations", headers: headers).json["id"] as? Int)
        let empty = try send(app, lena, conversation, "   ")
        #expect(empty.status == 400 && empty.body.contains("'content' must hold the message"), "\(empty.body)")
        let unknown = try call(app.port, "POST", "/api/conversations/\(conversation)/messages", headers: headers, json: #"{"content": "hi", "model": "x"}"#)
        #expect(unknown.status == 400 && unknown.body.contains("model"), "\(unknown.body)")
        let answered = try send(app, lena, conversation, "Say hello.")
        let turn = try #require(events(answered.body).last { $0.0 == "turn" }?.1, "\(answered.body)")
        let writers = try app.database.read { try $0.query("SELECT model_version_id FROM candidates WHERE prompt_id = ?", [turn["promptId"] as? Int ?? 0]).map { try $0.int("model_version_id") } }
        #expect(writers == [models[0], models[0]], "two samples of the one version")
        #expect(try call(app.port, "POST", "/api/conversations/\(conversation)/turns/2/choice", headers: headers, json: choice(turn, winner: 0, strength: 2)).status == 404)

        // A conversation longer than the model reads ends with a clear refusal, storing nothing.
        #expect(try configure(app, project, #"{"modelIds": [\#(models[0])], "maximumTokens": 2048}"#).status == 200)
        let long = try #require(try call(app.port, "POST", "/api/projects/\(project)/conversations", headers: headers).json["id"] as? Int)
        let refused = try send(app, lena, long, "Tell me everything.")
        #expect(refused.status == 409 && refused.errorCode == "conversation_too_long" && refused.body.contains("Start a new conversation"), "\(refused.body)")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM conversation_turns WHERE conversation_id = ?", [long]) } == 0)
        // Turning live conversations off: no new ones.
        #expect(try configure(app, project, #"{"modelIds": []}"#).json["modelIds"] as? [Int] == [])
        #expect(try call(app.port, "POST", "/api/projects/\(project)/conversations", headers: headers).status == 409)
    }

    @Test func anImportedConversationIsRankedAtAnyTurn() throws {
        let (app, project, _) = try setUp()
        let rita = try signIn(app.port, "rita")
        let write = ["Cookie": rita.cookie, "X-CSRF-Token": rita.csrf]
        let file = """
            {"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!", "model": "oasst", "candidates": [{"text": "Go away.", "model": "oasst"}]}, {"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "A pear.", "candidates": [{"text": "A car.", "model": "m2"}]}], "metadata": {"tree": "t1"}}
            {"prompt": [{"role": "user", "content": "One"}, {"role": "assistant", "content": "Two", "candidates": [{"text": "Three", "model": "m"}]}, {"role": "user", "content": "Four?"}], "candidates": [{"text": "Five", "model": "m"}, {"text": "Six", "model": "m"}]}
            """
        let imported = try call(app.port, "POST", "/api/projects/\(project)/imports/prompts?file=trees.jsonl", headers: write, rawBody: file)
        #expect(imported.status == 200 && imported.json["promptsCreated"] as? Int == 4, "\(imported.body)")
        let stored = try app.database.read { database in
            try database.query("""
                SELECT p.content, p.metadata, group_concat(c.model_name || ':' || c.text, ' | ') AS answers FROM prompts p JOIN candidates c ON c.prompt_id = p.id
                WHERE p.project_id = ? GROUP BY p.id ORDER BY p.id
                """, [project]).map { row -> String in
                let turns = (try JSONSerialization.jsonObject(with: Data(try row.string("content").utf8))) as? [[String: String]] ?? []
                let metadata = (try JSONSerialization.jsonObject(with: Data(try row.string("metadata").utf8))) as? [String: Any] ?? [:]
                return "\(turns.map { $0["content"] ?? "" }.joined(separator: "/")) @\(metadata["rank_at_turn"].map { "\($0)" } ?? "-") \(metadata["tree"] ?? "-"): \(try row.string("answers"))"
            }
        }
        // Each ranked turn is the conversation before it, ranked between the turn's own answer
        // (by its model, else "imported") and the answers given for it; the last user turn is
        // ranked as any conversation prompt is.
        #expect(stored == ["Hi @1 t1: oasst:Hello! | oasst:Go away.", "Hi/Hello!/Name a fruit. @3 t1: imported:A pear. | m2:A car.",
                           "One @1 -: imported:Two | m:Three", "One/Two/Four? @- -: m:Five | m:Six"], "\(stored)")

        let bad = """
            {"prompt": [{"role": "user", "content": "Hi", "candidates": [{"text": "x", "model": "m"}]}]}
            {"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello", "model": "m"}, {"role": "user", "content": "?"}]}
            {"prompt": [{"role": "user", "content": "Hi", "name": "ann"}]}
            {"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
            {"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello", "candidates": [{"text": "Hey", "model": "m"}]}], "candidates": [{"text": "x", "model": "m"}]}
            {"prompt": [{"role": "assistant", "content": "Hello", "candidates": [{"text": "Hey", "model": "m"}]}, {"role": "user", "content": "?"}]}
            {"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello", "candidates": []}]}
            """
        let refused = try call(app.port, "POST", "/api/projects/\(project)/imports/prompts?file=bad.jsonl", headers: write, rawBody: bad)
        #expect(refused.status == 422, "\(refused.body)")
        let problems = Set(((refused.json["error"] as? [String: Any])?["problems"] as? [[String: Any]] ?? []).map { "\($0["line"] as? Int ?? 0):\($0["field"] as? String ?? "")" })
        #expect(problems == ["1:prompt[0].candidates", "2:prompt[1].model", "3:prompt[0].name", "4:prompt", "5:candidates", "6:prompt[0].candidates", "7:prompt[1].candidates"], "\(problems)")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM prompts WHERE project_id = ?", [project]) } == 4, "nothing of the bad file is stored")
    }

    /// A registered endpoint answers one side beside a version (a stand-in OpenAI-compatible
    /// server on a real socket): its answer streams in as the endpoint streams it, the turn's candidate
    /// names the endpoint and the model it serves; a failing endpoint ends the turn with an
    /// error naming it, storing nothing; a removed one answers no new conversation.
    @Test func anEndpointAnswersBesideAVersion() throws {
        let (app, project, models) = try setUp()
        let failing = Flag()
        let server = try chatCompletionsStub { request in
            if failing.isSet {
                return Response(status: .internalServerError, contentType: "application/json", body: Array(#"{"error": {"message": "the GPU is on fire"}}"#.utf8))
            }
            let body = try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any] ?? [:]
            let last = ((body["messages"] as? [[String: Any]])?.last?["content"] as? String) ?? ""
            // OpenAI's stream: one event per piece of the answer, then [DONE].
            let pieces = ["a pear, ", "since you asked: ", last].map { piece in
                Array("data: {\"model\": \"big-2026\", \"choices\": [{\"index\": 0, \"delta\": {\"content\": \"\(piece)\"}, \"finish_reason\": null}]}\n\n".utf8)
            } + [Array("data: {\"choices\": [{\"index\": 0, \"delta\": {}, \"finish_reason\": \"stop\"}]}\n\ndata: [DONE]\n\n".utf8)]
            #expect(body["stream"] as? Bool == true)
            return .stream(contentType: "text/event-stream", pieces: pieces)
        }
        defer { server.shutdown(gracePeriod: 1) }
        let endpoint = try app.database.write { database in
            var new = NewModelEndpoint(name: "big-model", baseUrl: "http://127.0.0.1:\(server.port)/v1", model: "big")
            new.retries = 0
            return try ModelEndpointRepository().create(new, createdBy: nil, in: database).id
        }
        let missing = try configure(app, project, #"{"modelIds": [\#(models[0])], "endpointIds": [999]}"#)
        #expect(missing.status == 400 && missing.body.contains("'endpointIds[0]': there is no endpoint 999"), "\(missing.body)")
        let set = try configure(app, project, #"{"modelIds": [\#(models[0])], "endpointIds": [\#(endpoint)], "maximumTokens": 8}"#)
        #expect(set.status == 200 && set.json["endpointIds"] as? [Int] == [endpoint], "\(set.body)")

        let lena = try signIn(app.port, "lena")
        let started = try call(app.port, "POST", "/api/projects/\(project)/conversations", headers: ["Cookie": lena.cookie, "X-CSRF-Token": lena.csrf])
        let conversation = try #require(started.json["id"] as? Int, "\(started.body)")
        let answered = try send(app, lena, conversation, "which fruit?")
        let received = events(answered.body)
        let turn = try #require(received.first { $0.0 == "turn" }?.1, "\(answered.body)")
        let stored = try app.database.read { database in
            try database.query("SELECT text, model_name, endpoint_id, model_version_id FROM candidates c JOIN conversation_turns t ON c.id IN (t.answer_a_id, t.answer_b_id) WHERE t.conversation_id = ?",
                               [conversation]).map { (try $0.string("text"), try $0.string("model_name"), $0.optionalInt("endpoint_id"), $0.optionalInt("model_version_id")) }
        }
        #expect(stored.count == 2 && stored.contains { $0.0 == "a pear, since you asked: which fruit?" && $0.1 == "big" && $0.2 == endpoint && $0.3 == nil }
                && stored.contains { $0.2 == nil && $0.3 == models[0] }, "\(stored)")
        let endpointSide = try app.database.read { try $0.queryOne("SELECT endpoint_a_id FROM conversations WHERE id = ?", [conversation])?.optionalInt("endpoint_a_id") } == endpoint ? "a" : "b"
        let pieces = received.filter { $0.0 == "answer" && $0.1["side"] as? String == endpointSide }.compactMap { $0.1["text"] as? String }
        #expect(pieces == ["a pear, ", "since you asked: ", "which fruit?"], "the endpoint's answer streams piece by piece: \(pieces)")

        // The endpoint fails: the turn ends with its error, named, and nothing is stored.
        let chosen = try call(app.port, "POST", "/api/conversations/\(conversation)/turns/1/choice", headers: ["Cookie": lena.cookie, "X-CSRF-Token": lena.csrf],
                              json: choice(turn, winner: 0, strength: 2))
        #expect(chosen.status == 201, "\(chosen.body)")
        failing.set()
        let failed = try send(app, lena, conversation, "and another?")
        let error = events(failed.body).first { $0.0 == "error" }?.1["error"] as? [String: Any]
        #expect((error?["message"] as? String ?? "").contains("endpoint 'big-model'") && (error?["message"] as? String ?? "").contains("the GPU is on fire"), "\(failed.body)")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM conversation_turns WHERE conversation_id = ?", [conversation]) } == 1)

        // Removed: a new conversation is answered by the version alone, on both sides.
        _ = try app.database.write { try ModelEndpointRepository().remove(id: endpoint, in: $0) }
        let next = try call(app.port, "POST", "/api/projects/\(project)/conversations", headers: ["Cookie": lena.cookie, "X-CSRF-Token": lena.csrf])
        let sides = try app.database.read { try $0.queryOne("SELECT model_a_id, model_b_id, endpoint_a_id, endpoint_b_id FROM conversations WHERE id = ?", [next.json["id"] as? Int ?? 0]) }
        #expect(sides?.optionalInt("model_a_id") == models[0] && sides?.optionalInt("model_b_id") == models[0] && sides?.optionalInt("endpoint_a_id") == nil, "\(next.body)")
    }
}

/// A switch shared with a stand-in server's handler threads.
private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
