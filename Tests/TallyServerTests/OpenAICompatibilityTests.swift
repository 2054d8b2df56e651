import BackgroundTraining
import Foundation
import TallyTestSupport
import Testing
@testable import TallyServer

/// The OpenAI-compatible routes over real sockets with a tiny registered model: answers,
/// streams, stop texts, several choices, log-probabilities, OpenAI's error shape, the bounded
/// queue, and the official `openai` Python client reading all of it.
@Suite("OpenAI-compatible chat completions")
struct OpenAICompatibilityTests {
    /// A server with the tiny model registered as `tiny-base` and a researcher's API token.
    private func setUp(generation: ChatGenerator.Configuration = ChatGenerator.Configuration()) throws -> (TallyTestServer, token: String) {
        let app = try TallyTestServer(generation: generation)
        let added = try CommandLineTests.tally(["model", "add", "--database", app.databasePath, "--path", try TrainingCommandTests.tinyModelFolder(), "--name", "tiny-base"])
        #expect(added.status == 0, "\(added.errorOutput)")
        let rita = try signIn(app.port, "rita")
        let created = try call(app.port, "POST", "/api/tokens", headers: ["Cookie": rita.cookie, "X-CSRF-Token": rita.csrf], json: #"{"name": "openai client"}"#)
        return (app, try #require(created.json["token"] as? String, "\(created.body)"))
    }

    private func complete(_ app: TallyTestServer, _ token: String, _ body: String) throws -> APIResponse {
        try call(app.port, "POST", "/v1/chat/completions", headers: ["Authorization": "Bearer \(token)"], json: body)
    }

    /// The `data:` events of a streamed answer, parsed, without the final `[DONE]`.
    private func events(_ body: String) -> (chunks: [[String: Any]], done: Bool) {
        let data = body.components(separatedBy: "\n").filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
        let chunks = data.filter { $0 != "[DONE]" }.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        return (chunks, data.last == "[DONE]")
    }

    @Test func answersStreamsAndStopsAsOpenAIDoes() throws {
        let (app, token) = try setUp()
        let models = try call(app.port, "GET", "/v1/models", headers: ["Authorization": "Bearer \(token)"])
        #expect(models.status == 200 && models.json["object"] as? String == "list", "\(models.body)")
        #expect((models.json["data"] as? [[String: Any]] ?? []).contains { $0["id"] as? String == "tiny-base" && $0["object"] as? String == "model" })

        let request = #"{"model": "tiny-base", "messages": [{"role": "user", "content": "name a fruit"}], "max_tokens": 16, "seed": 3, "temperature": 0.8}"#
        let answer = try complete(app, token, request)
        #expect(answer.status == 200, "\(answer.body)")
        #expect((answer.json["id"] as? String ?? "").hasPrefix("chatcmpl-") && answer.json["object"] as? String == "chat.completion" && answer.json["model"] as? String == "tiny-base")
        let choice = try #require((answer.json["choices"] as? [[String: Any]])?.first, "\(answer.body)")
        let message = choice["message"] as? [String: Any] ?? [:]
        let content = try #require(message["content"] as? String)
        #expect(message["role"] as? String == "assistant" && ["stop", "length"].contains(choice["finish_reason"] as? String ?? ""))
        let usage = answer.json["usage"] as? [String: Any] ?? [:]
        let completionTokens = usage["completion_tokens"] as? Int ?? -1
        #expect((usage["prompt_tokens"] as? Int ?? 0) > 0 && (1...16).contains(completionTokens)
                && usage["total_tokens"] as? Int == (usage["prompt_tokens"] as? Int ?? 0) + completionTokens, "\(usage)")

        // The same seed streamed: the same text, in chunks, a finish reason, the usage, [DONE].
        let streamed = try complete(app, token, #"{"model": "tiny-base", "messages": [{"role": "user", "content": "name a fruit"}], "max_tokens": 16, "seed": 3, "temperature": 0.8, "stream": true, "stream_options": {"include_usage": true}}"#)
        #expect(streamed.status == 200 && streamed.header("Content-Type")?.hasPrefix("text/event-stream") == true, "\(streamed.body)")
        let (chunks, done) = events(streamed.body)
        #expect(done && chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" && $0["id"] as? String == chunks.first?["id"] as? String })
        let deltas = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any]) }
        #expect(deltas.first?["role"] as? String == "assistant")
        #expect(deltas.compactMap { $0["content"] as? String }.joined() == content, "streamed and whole answers agree for one seed")
        #expect(chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }.count == 1)
        #expect((chunks.last?["usage"] as? [String: Any])?["completion_tokens"] as? Int == completionTokens && (chunks.last?["choices"] as? [Any])?.isEmpty == true)

        // Greedy decoding, then a stop text from inside its answer: the answer ends where it begins.
        let greedy = try complete(app, token, #"{"model": "tiny-base", "messages": [{"role": "user", "content": "the sky"}], "max_tokens": 24, "temperature": 0}"#)
        let greedyText = try #require((((greedy.json["choices"] as? [[String: Any]])?.first)?["message"] as? [String: Any])?["content"] as? String, "\(greedy.body)")
        let scalars = Array(greedyText.unicodeScalars)
        if scalars.count >= 6, !scalars[2..<4].contains("\u{FFFD}") {
            let stop = String(String.UnicodeScalarView(scalars[2..<4]))
            let cut = String(greedyText[..<greedyText.range(of: stop)!.lowerBound])
            for stream in [false, true] {
                let stopped = try complete(app, token, """
                    {"model": "tiny-base", "messages": [{"role": "user", "content": "the sky"}], "max_tokens": 24, "temperature": 0, "stop": [\(String(data: try JSONSerialization.data(withJSONObject: stop, options: .fragmentsAllowed), encoding: .utf8)!)], "stream": \(stream)}
                    """)
                let text = stream ? events(stopped.body).chunks.compactMap { ((($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String) }.joined()
                                  : ((((stopped.json["choices"] as? [[String: Any]])?.first)?["message"] as? [String: Any])?["content"] as? String ?? "")
                #expect(text == cut, "stream \(stream): '\(text)' should end before the stop text '\(stop)' of '\(greedyText)'")
            }
        }

        // Several choices, each with its log-probabilities.
        let several = try complete(app, token, #"{"model": "tiny-base", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "n": 3, "logprobs": true, "seed": 1}"#)
        let choices = several.json["choices"] as? [[String: Any]] ?? []
        #expect(choices.map { $0["index"] as? Int } == [0, 1, 2], "\(several.body)")
        for choice in choices {
            let tokens = (choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]] ?? []
            #expect(!tokens.isEmpty && tokens.allSatisfy { ($0["logprob"] as? Double ?? 1) <= 0 && $0["token"] is String && $0["bytes"] is [Int] }, "\(choice)")
        }
    }

    @Test func wrongRequestsGetOpenAIsErrorShape() throws {
        let (app, token) = try setUp()
        let cases: [(body: String, status: Int, parameter: String?, code: String?)] = [
            (#"{"model": "nothing", "messages": [{"role": "user", "content": "hi"}]}"#, 404, "model", "model_not_found"),
            (#"{"model": "tiny-base", "messages": []}"#, 400, "messages", nil),
            (#"{"model": "tiny-base", "messages": [{"role": "robot", "content": "hi"}]}"#, 400, "messages", nil),
            (#"{"model": "tiny-base", "messages": [{"role": "user", "content": "hi"}], "temperature": 3}"#, 400, "temperature", nil),
            (#"{"model": "tiny-base", "messages": [{"role": "user", "content": "hi"}], "n": 9}"#, 400, "n", nil),
            (#"{"model": "tiny-base", "messages": [{"role": "user", "content": "hi"}], "tools": []}"#, 400, "tools", "unsupported_parameter"),
            (#"{"model": "tiny-base", "messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2}"#, 400, "top_logprobs", "unsupported_parameter"),
            (#"{"model": "tiny-base", "messages": [{"role": "user", "content": "hi"}], "presence_penalty": 0.5}"#, 400, "presence_penalty", "unsupported_parameter"),
            (#"{"model": "tiny-base", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100000}"#, 400, "max_tokens", nil),
            (#"{"model": "tiny-base", "messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": true}}"#, 400, "stream_options", nil),
        ]
        for test in cases {
            let response = try complete(app, token, test.body)
            let error = response.json["error"] as? [String: Any] ?? [:]
            #expect(response.status == test.status && error["message"] is String && error["type"] as? String == (test.status == 404 || test.status == 400 ? "invalid_request_error" : ""),
                    "\(test.body): \(response.status) \(response.body)")
            #expect(error["param"] as? String == test.parameter && error["code"] as? String == test.code, "\(test.body): \(response.body)")
        }
        let anonymous = try call(app.port, "POST", "/v1/chat/completions", json: #"{"model": "tiny-base", "messages": [{"role": "user", "content": "hi"}]}"#)
        #expect(anonymous.status == 401 && (anonymous.json["error"] as? [String: Any])?["type"] as? String == "authentication_error", "\(anonymous.body)")
        let lena = try signIn(app.port, "lena")
        let labeler = try call(app.port, "GET", "/v1/models", headers: ["Cookie": lena.cookie])
        #expect(labeler.status == 403 && (labeler.json["error"] as? [String: Any])?["type"] as? String == "permission_error", "\(labeler.body)")
    }

    @Test func aFullQueueIsRefusedWithRetryAfter() throws {
        var generation = ChatGenerator.Configuration()
        generation.queueCapacity = 0
        let (app, token) = try setUp(generation: generation)
        let refused = try complete(app, token, #"{"model": "tiny-base", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}"#)
        #expect(refused.status == 429 && Int(refused.header("Retry-After") ?? "") ?? 0 >= 1, "\(refused.status) \(refused.body)")
        #expect((refused.json["error"] as? [String: Any])?["type"] as? String == "rate_limit_error")
        let refusedStream = try complete(app, token, #"{"model": "tiny-base", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "stream": true}"#)
        #expect(refusedStream.status == 429, "a stream is refused before it begins: \(refusedStream.body)")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: checkerPython),
                   "needs the checker's Python environment; `make test` creates .build-python/test"))
    func theOfficialOpenAIClientReadsEverything() throws {
        let (app, token) = try setUp()
        let run = try runChecker("check_openai_client.py", besides: #filePath, ["http://127.0.0.1:\(app.port)/v1", token, "tiny-base"])
        #expect(run.status == 0, "\(run.errors)")
        let result = run.json as? [String: Any] ?? [:]
        #expect((result["models"] as? [String])?.contains("tiny-base") == true, "\(result)")
        let completion = result["completion"] as? [String: Any] ?? [:]
        let stream = result["stream"] as? [String: Any] ?? [:]
        #expect(completion["object"] as? String == "chat.completion" && completion["role"] as? String == "assistant" && (completion["logprobs"] as? Int ?? 0) > 0, "\(completion)")
        #expect(stream["content"] as? String == completion["content"] as? String && stream["finish_reason"] as? String == completion["finish_reason"] as? String, "\(result)")
        #expect((stream["usage"] as? [String: Any])?["completion_tokens"] as? Int == (completion["usage"] as? [String: Any])?["completion_tokens"] as? Int)
        #expect((result["missing_model"] as? [String: Any])?["code"] as? String == "model_not_found")
        #expect((result["bad_temperature"] as? [String: Any])?["param"] as? String == "temperature")
        #expect((result["wrong_key"] as? [String: Any])?["status"] as? Int == 401)
    }
}
