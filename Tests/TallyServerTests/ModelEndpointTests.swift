import Foundation
import Glibc
import HTTP
import Logging
import TallyTestSupport
import Testing
@testable import BackgroundTraining
import Cryptography
import Labeling
@testable import TallyServer

/// Candidates from an OpenAI-compatible endpoint: another Tally, in another process, serving
/// the tiny model over `/v1` on a real socket is the remote server; a port nothing listens on
/// is the dead one. Registration, the key kept secret, the check, the job through the worker
/// (its prompts chosen by category), the candidates named by the model that wrote them, and the
/// failures named by endpoint and answer.
@Suite("Model endpoints", .serialized)
struct ModelEndpointTests {
    typealias Session = (cookie: String, csrf: String)
    private func writeHeaders(_ session: Session) -> [String: String] { ["Cookie": session.cookie, "X-CSRF-Token": session.csrf] }

    /// A Tally serving `tiny-base` in a process of its own, and an API token for it.
    private func startRemoteTally() throws -> (process: Process, port: Int, token: String) {
        let setUp = try TallyTestServer()
        let added = try CommandLineTests.tally(["model", "add", "--database", setUp.databasePath, "--path", try TrainingCommandTests.tinyModelFolder(), "--name", "tiny-base"])
        #expect(added.status == 0, "\(added.errorOutput)")
        let rita = try signIn(setUp.port, "rita")
        let created = try call(setUp.port, "POST", "/api/tokens", headers: writeHeaders(rita), json: #"{"name": "the other tally"}"#)
        let token = try #require(created.json["token"] as? String, "\(created.body)")
        let (process, port) = try CommandLineTests.startServing(database: setUp.databasePath)
        return (process, port, token)
    }

    /// A project of ranking size 3 with two prompts waiting for candidates (one of them
    /// brainstorming) and a held-out one, and the worker that runs its jobs.
    private func setUpProject() throws -> (app: TallyTestServer, project: Int, rita: Session, worker: Worker) {
        let app = try TallyTestServer()
        let rita = try signIn(app.port, "rita")
        let created = try call(app.port, "POST", "/api/projects", headers: writeHeaders(rita), json: #"{"name": "Endpoint fruit", "rankingSize": 3, "overlap": 1}"#)
        let project = try #require(created.json["id"] as? Int, "\(created.body)")
        let lines = [#"{"prompt": "list three fruits", "category": "brainstorming"}"#, #"{"prompt": "what colour is a banana?", "category": "open_qa"}"#,
                     #"{"prompt": "name a red fruit", "category": "brainstorming", "split": "test"}"#]
        let imported = try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: writeHeaders(rita), rawBody: lines.joined(separator: "\n"))
        #expect(imported.status == 200, "\(imported.body)")
        var configuration = Worker.Configuration(modelsDirectory: TemporaryFiles.path("endpoint-models"))
        configuration.threads = 1
        var logger = Logger(label: "test-worker")
        logger.logLevel = .critical
        return (app, project, rita, try Worker(database: app.database, configuration: configuration, logger: logger))
    }

    private func register(_ app: TallyTestServer, _ rita: Session, _ body: String) throws -> [String: Any] {
        let response = try call(app.port, "POST", "/api/model-endpoints", headers: writeHeaders(rita), json: body)
        #expect(response.status == 201, "\(response.body)")
        return response.json
    }

    private func runJob(_ app: TallyTestServer, _ rita: Session, _ worker: Worker, project: Int, _ body: String) throws -> (job: [String: Any], log: [String]) {
        let queued = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita), json: body)
        #expect(queued.status == 201, "\(queued.body)")
        let id = try #require(queued.json["id"] as? Int)
        #expect(try worker.runNextJob())
        let detail = try call(app.port, "GET", "/api/jobs/\(id)", headers: ["Cookie": rita.cookie]).json
        return (detail["job"] as? [String: Any] ?? [:], (detail["log"] as? [[String: Any]] ?? []).compactMap { $0["line"] as? String })
    }

    @Test func candidatesComeFromAnotherTallysOpenAIEndpoint() throws {
        let remote = try startRemoteTally()
        defer { remote.process.terminate(); remote.process.waitUntilExit() }
        let (app, project, rita, worker) = try setUpProject()

        let registered = try call(app.port, "POST", "/api/model-endpoints", headers: writeHeaders(rita), json: """
            {"name": "other-tally", "baseUrl": "http://127.0.0.1:\(remote.port)/v1", "model": "tiny-base", "apiKey": "\(remote.token)", "concurrentRequests": 2}
            """)
        #expect(registered.status == 201, "\(registered.body)")
        #expect(!registered.body.contains(remote.token), "the key is never shown again")
        #expect(registered.json["apiKeyEnding"] as? String == String(remote.token.suffix(4)) && registered.json["concurrentRequests"] as? Int == 2)
        let endpoint = try #require(registered.json["id"] as? Int)
        let listed = try call(app.port, "GET", "/api/model-endpoints", headers: ["Cookie": rita.cookie])
        #expect(listed.status == 200 && listed.body.contains("other-tally") && !listed.body.contains(remote.token), "\(listed.body)")
        let check = try call(app.port, "POST", "/api/model-endpoints/\(endpoint)/check", headers: writeHeaders(rita))
        #expect(check.json["reachable"] as? Bool == true && check.json["modelServed"] as? Bool == true, "\(check.body)")

        // The brainstorming prompts of the train split only: the other two keep waiting.
        let (job, log) = try runJob(app, rita, worker, project: project, """
            {"kind": "sample", "endpointId": \(endpoint), "parameters": {"answers-per-prompt": 2, "max-new-tokens": 8, "category": "brainstorming", "temperature": 1.5}}
            """)
        #expect(job["status"] as? String == "succeeded" && job["endpointId"] as? Int == endpoint && job["baseModelId"] == nil, "\(job) \(log)")
        #expect(log.contains { $0.contains("from endpoint 'other-tally' (tiny-base at http://127.0.0.1:\(remote.port)/v1)") }, "\(log)")
        let candidates = try app.database.read { database in
            try database.query("""
                SELECT p.content AS prompt, c.model_name, c.model_version, c.endpoint_id, c.model_version_id FROM candidates c JOIN prompts p ON p.id = c.prompt_id
                """).map { (try $0.string("prompt"), try $0.string("model_name"), try $0.string("model_version"), $0.optionalInt("endpoint_id"), $0.optionalInt("model_version_id")) }
        }
        #expect((1...2).contains(candidates.count), "\(candidates)")
        #expect(candidates.allSatisfy { $0.0 == "list three fruits" && $0.1 == "tiny-base" && $0.2 == "tiny-base" && $0.3 == endpoint && $0.4 == nil }, "\(candidates)")

        // A wrong key: the endpoint's 401 fails the job at once, named.
        let wrongKey = try #require(try register(app, rita, """
            {"name": "other-tally, wrong key", "baseUrl": "http://127.0.0.1:\(remote.port)/v1/", "model": "tiny-base", "apiKey": "not-the-key"}
            """)["id"] as? Int)
        let refused = try runJob(app, rita, worker, project: project, #"{"kind": "sample", "endpointId": \#(wrongKey)}"#)
        let error = refused.job["error"] as? String ?? ""
        #expect(refused.job["status"] as? String == "failed" && error.contains("endpoint 'other-tally, wrong key' (http://127.0.0.1:\(remote.port)/v1/chat/completions) answered 401: The API token is unknown or revoked."), "\(refused.job)")
        #expect(!error.contains("tries"), "a 401 is not tried again: \(error)")
    }

    @Test func aDeadEndpointIsTriedAgainThenNamed() throws {
        let (app, project, rita, worker) = try setUpProject()
        // A port that was just free: nothing listens there.
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(probe, $0, &length) } }
        let deadPort = Int(UInt16(bigEndian: address.sin_port))
        close(probe)

        let dead = try #require(try register(app, rita, """
            {"name": "dead", "baseUrl": "http://127.0.0.1:\(deadPort)/v1", "model": "llama", "retries": 1, "timeoutSeconds": 2}
            """)["id"] as? Int)
        let check = try call(app.port, "POST", "/api/model-endpoints/\(dead)/check", headers: writeHeaders(rita))
        #expect(check.status == 200 && check.json["reachable"] as? Bool == false && (check.json["message"] as? String ?? "").contains("127.0.0.1:\(deadPort)"), "\(check.body)")
        let (job, _) = try runJob(app, rita, worker, project: project, #"{"kind": "sample", "endpointId": \#(dead)}"#)
        let error = job["error"] as? String ?? ""
        #expect(job["status"] as? String == "failed" && error.contains("endpoint 'dead' (http://127.0.0.1:\(deadPort)/v1/chat/completions) could not be reached")
                && error.contains("(after 2 tries)"), "\(job)")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM candidates") } == 0)
    }

    @Test func refusesWhatCannotBeRegisteredOrStarted() throws {
        let (app, project, rita, _) = try setUpProject()
        let lena = try signIn(app.port, "lena")
        let refusals: [(String, Int, String)] = [
            (#"{"name": "x", "baseUrl": "localhost:8000", "model": "m"}"#, 400, "field 'baseUrl' must be an http or https URL"),
            (#"{"name": "x", "baseUrl": "https://user:secret@api.example.com/v1", "model": "m"}"#, 400, "must not carry a user name or password"),
            (#"{"name": "x", "baseUrl": "http://localhost:8000/v1", "model": ""}"#, 400, "field 'model' must name the served model"),
            (#"{"name": "x", "baseUrl": "http://localhost:8000/v1", "model": "m", "apiKey": "has space"}"#, 400, "field 'apiKey' must be"),
            (#"{"name": "x", "baseUrl": "http://localhost:8000/v1", "model": "m", "retries": 11}"#, 400, "field 'retries' must be from 0 to 10"),
            (#"{"name": "x", "baseUrl": "http://localhost:8000/v1", "model": "m", "timeoutSecond": 5}"#, 400, "timeoutSecond"),
        ]
        for (body, status, message) in refusals {
            let response = try call(app.port, "POST", "/api/model-endpoints", headers: writeHeaders(rita), json: body)
            #expect(response.status == status && response.body.contains(message), "\(body): \(response.status) \(response.body)")
        }
        #expect(try call(app.port, "POST", "/api/model-endpoints", headers: writeHeaders(lena), json: #"{"name": "x", "baseUrl": "http://a/v1", "model": "m"}"#).status == 403)
        let endpoint = try #require(try register(app, rita, #"{"name": "vllm", "baseUrl": "http://localhost:8000/v1", "model": "m", "apiKey": "sk-secret-1234"}"#)["id"] as? Int)
        let again = try call(app.port, "POST", "/api/model-endpoints", headers: writeHeaders(rita), json: #"{"name": "vllm", "baseUrl": "http://b/v1", "model": "m"}"#)
        #expect(again.status == 409, "\(again.body)")

        let base = 1
        let jobRefusals: [(String, String)] = [
            (#"{"kind": "sft", "endpointId": \#(endpoint)}"#, "only a sample job (its answers) or an ai-labels job (its judgments) starts from an endpoint"),
            (#"{"kind": "sample", "endpointId": \#(endpoint), "baseModelId": \#(base)}"#, "a model version or an endpoint, not both"),
            (#"{"kind": "sample", "endpointId": 999}"#, "there is no endpoint 999"),
            (#"{"kind": "sample", "endpointId": \#(endpoint), "parameters": {"split": "dev"}}"#, "parameter 'split': must be one of train, validation, test"),
            (#"{"kind": "sample", "endpointId": \#(endpoint), "parameters": {"category": "poetry"}}"#, "parameter 'category': must be one of"),
            (#"{"kind": "sample"}"#, "a sample or ai-labels job may give 'endpointId' instead"),
        ]
        for (body, message) in jobRefusals {
            let response = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita), json: body)
            #expect(response.status == 400 && response.body.contains(message), "\(body): \(response.body)")
        }

        // Removed: its key erased, and no job starts from it.
        let removed = try call(app.port, "DELETE", "/api/model-endpoints/\(endpoint)", headers: writeHeaders(rita))
        #expect(removed.status == 200 && removed.json["removedAt"] is String && removed.json["apiKeyEnding"] == nil, "\(removed.body)")
        #expect(try app.database.read { try $0.queryOne("SELECT api_key FROM model_endpoints WHERE id = ?", [endpoint])?.optionalString("api_key") } == nil)
        let late = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita), json: #"{"kind": "sample", "endpointId": \#(endpoint)}"#)
        #expect(late.status == 400 && late.body.contains("endpoint 'vllm' was removed"), "\(late.body)")
        #expect(try call(app.port, "GET", "/api/model-endpoints", headers: ["Cookie": rita.cookie]).json["endpoints"] as? [Any] == nil
                || (try call(app.port, "GET", "/api/model-endpoints", headers: ["Cookie": rita.cookie]).json["endpoints"] as? [Any])?.isEmpty == true)
    }

    /// A served model as the AI labeler: a stand-in server that reads each question as OpenAI's
    /// API would and answers with log-probabilities preferring the answer about a banana. The
    /// job asks every pair in both orders, greedy and one token long, with the rubric; the
    /// banana ranks first, the other two tie; the judge is measured and exported as an endpoint.
    @Test func anEndpointJudgesByTheRubric() throws {
        let questions = Questions()
        let server = try chatCompletionsStub { request in
            let body = try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any] ?? [:]
            let question = ((body["messages"] as? [[String: Any]])?.first?["content"] as? String) ?? ""
            questions.record(question, options: body)
            let answerA = question.components(separatedBy: "Answer A:\n").last?.components(separatedBy: "\n\nAnswer B:").first ?? ""
            let answerB = question.components(separatedBy: "Answer B:\n").last?.components(separatedBy: "\n\nWhich answer").first ?? ""
            let (a, b) = answerA.contains("banana") ? (-0.1, -2.5) : answerB.contains("banana") ? (-2.5, -0.1) : (-0.7, -0.7)
            let reply = #"{"model": "judge-2026", "choices": [{"index": 0, "message": {"role": "assistant", "content": "A"}, "finish_reason": "length", "#
                + #""logprobs": {"content": [{"token": "A", "logprob": \#(a), "top_logprobs": [{"token": "A", "logprob": \#(a)}, {"token": " B", "logprob": \#(b)}, {"token": "The", "logprob": -4}]}]}}]}"#
            return Response(status: .ok, contentType: "application/json", body: Array(reply.utf8))
        }
        defer { server.shutdown(gracePeriod: 1) }
        let (app, project, rita, worker) = try setUpProject()
        let imported = try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: writeHeaders(rita), rawBody: """
            {"prompt": "name a fruit", "candidates": [{"text": "the cat sat on the mat", "model": "m1"}, {"text": "a banana", "model": "m2"}, {"text": "the sky is blue", "model": "m3"}]}
            """)
        #expect(imported.status == 200, "\(imported.body)")
        let endpoint = try #require(try register(app, rita, #"{"name": "judge-stub", "baseUrl": "http://127.0.0.1:\#(server.port)/v1", "model": "judge"}"#)["id"] as? Int)
        let (job, log) = try runJob(app, rita, worker, project: project, #"{"kind": "ai-labels", "endpointId": \#(endpoint), "parameters": {"rubric": "Prefer the fruit."}}"#)
        #expect(job["status"] as? String == "succeeded", "\(job) \(log)")
        #expect(log.contains { $0.hasPrefix("Ranking the candidates of 1 prompts with endpoint 'judge-stub' (judge) judging them two at a time") }, "\(log)")
        let asked = questions.all
        #expect(asked.count == 6, "three pairs, each in both orders: \(asked.count)")
        #expect(asked.allSatisfy { $0.question.contains("Guidelines for judging answers: Prefer the fruit.") && $0.options["max_tokens"] as? Int == 1
                                   && $0.options["logprobs"] as? Bool == true && $0.options["temperature"] as? Int == 0 })
        let ranks = try app.database.read { database in
            try database.query("""
                SELECT c.text, e.rank FROM ai_rankings a JOIN ai_ranking_entries e ON e.ai_ranking_id = a.id JOIN candidates c ON c.id = e.candidate_id
                WHERE a.endpoint_id = ? AND a.method = 'rubric' AND a.rubric = 'Prefer the fruit.' ORDER BY c.text
                """, [endpoint]).map { "\(try $0.string("text")): \(try $0.int("rank"))" }
        }
        #expect(ranks == ["a banana: 1", "the cat sat on the mat: 2", "the sky is blue: 2"], "\(ranks)")
        let judges = try call(app.port, "GET", "/api/projects/\(project)/quality", headers: ["Cookie": rita.cookie]).json["aiLabelers"] as? [[String: Any]] ?? []
        #expect(judges.count == 1 && judges[0]["endpointId"] as? Int == endpoint && judges[0]["name"] as? String == "judge-stub" && judges[0]["rankings"] as? Int == 1, "\(judges)")
        let exported = try call(app.port, "GET", "/api/projects/\(project)/ai-labels?endpoint=\(endpoint)", headers: ["Cookie": rita.cookie])
        let lines = exported.body.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        #expect(lines.count == 2 && lines.allSatisfy { (($0["chosen"] as? [[String: Any]])?.first?["content"] as? String) == "a banana"
                                                       && ($0["judge"] as? [String: Any])?["endpoint_id"] as? Int == endpoint }, "\(exported.body)")
        #expect(try call(app.port, "GET", "/api/projects/\(project)/ai-labels?endpoint=\(endpoint)&model=1", headers: ["Cookie": rita.cookie]).status == 400)
    }

    /// A server that gives no log-probabilities is read by its reply's letter; any other reply
    /// fails by name rather than being guessed.
    @Test func aJudgeWithoutLogProbabilitiesIsReadByItsLetter() throws {
        let replies = Questions()
        let server = try chatCompletionsStub { _ in
            let content = ["B", "Sure, here is my view"][min(1, replies.count)]
            replies.record(content, options: [:])
            return Response(status: .ok, contentType: "application/json",
                            body: Array(#"{"choices": [{"index": 0, "message": {"role": "assistant", "content": "\#(content)"}, "finish_reason": "stop"}]}"#.utf8))
        }
        defer { server.shutdown(gracePeriod: 1) }
        let app = try TallyTestServer()
        let endpoint = try app.database.write { database in
            try ModelEndpointRepository().create(NewModelEndpoint(name: "plain", baseUrl: "http://127.0.0.1:\(server.port)/v1", model: "plain"), createdBy: nil, in: database)
        }
        let client = ChatCompletionsClient(endpoint: endpoint, apiKey: nil, tls: try TLSClientContext())
        #expect(try client.probabilityOfA([.init(role: "user", content: "A or B?")]) == 0)
        let error = #expect(throws: EndpointError.self) { try client.probabilityOfA([.init(role: "user", content: "A or B?")]) }
        #expect(error?.description.contains("endpoint 'plain' (http://127.0.0.1:\(server.port)/v1/chat/completions) answered 'Sure, here is my view' where the letter A or B was asked") == true,
                "\(String(describing: error))")
    }

    /// The retry rule on a server that answers 429 (with Retry-After), then 503, then an answer:
    /// waits of 0 s (as asked) and 2 s (doubled from the first 1 s), then the completion.
    @Test func triesAgainAfterTooManyRequestsAndServerErrors() throws {
        let answers = Counter()
        let server = try chatCompletionsStub { _ in
            switch answers.next() {
            case 0: return Response(status: .tooManyRequests, headers: HTTPHeaders([("Retry-After", "0"), ("Content-Type", "application/json")]),
                                     body: .bytes(Array(#"{"error": {"message": "slow down"}}"#.utf8)))
            case 1: return Response(status: .serviceUnavailable, contentType: "application/json", body: Array(#"{"error": {"message": "overloaded"}}"#.utf8))
            default:
                return Response(status: .ok, contentType: "application/json", body: Array(#"""
                    {"id": "x", "object": "chat.completion", "model": "served-2026-12-01", "choices": [{"index": 0, "message": {"role": "assistant", "content": " a pear "}, "finish_reason": "stop"}]}
                    """#.utf8))
            }
        }
        defer { server.shutdown(gracePeriod: 1) }

        let app = try TallyTestServer()
        let endpoint = try app.database.write { database in
            try ModelEndpointRepository().create(NewModelEndpoint(name: "flaky", baseUrl: "http://127.0.0.1:\(server.port)/v1", model: "served"), createdBy: nil, in: database)
        }
        let waits = Counter()
        var client = ChatCompletionsClient(endpoint: endpoint, apiKey: nil, tls: try TLSClientContext())
        client.sleep = { waits.record($0) }
        let completion = try client.complete([.init(role: "user", content: "a fruit?")], sampling: CandidateSampling(), seed: 1)
        #expect(completion == .init(text: " a pear ", servedModel: "served-2026-12-01", finishReason: "stop"))
        #expect(waits.recorded == [0, 2], "\(waits.recorded)")
        // Asked to stream, a server that answers with one JSON body gives its text as one piece.
        let pieces = Questions()
        let streamed = try client.completeStreaming([.init(role: "user", content: "a fruit?")], sampling: CandidateSampling(), seed: 1) { pieces.record($0, options: [:]) }
        #expect(streamed.text == " a pear " && pieces.all.map(\.question) == [" a pear "], "\(pieces.all.map(\.question))")
    }
}

/// The questions a stand-in server was asked, with the request's other members.
private final class Questions: @unchecked Sendable {
    private let lock = NSLock()
    private var asked: [(question: String, options: [String: Any])] = []
    func record(_ question: String, options: [String: Any]) { lock.withLock { asked.append((question, options)) } }
    var all: [(question: String, options: [String: Any])] { lock.withLock { asked } }
    var count: Int { lock.withLock { asked.count } }
}

/// A count and a list shared with a server's handler threads.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var values: [Double] = []
    func next() -> Int { lock.withLock { defer { count += 1 }; return count } }
    func record(_ value: Double) { lock.withLock { values.append(value) } }
    var recorded: [Double] { lock.withLock { values } }
}
