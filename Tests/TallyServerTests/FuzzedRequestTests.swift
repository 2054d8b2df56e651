import Foundation
import TallyTestSupport
import Testing
@testable import TallyServer

/// The standing raw-socket fuzzer of issue 19: requests to the real routes, signed in as a
/// researcher and as a labeler, mutated byte by byte (the HTTP parser's input) and value by
/// value inside their JSON bodies with the length kept right (the validators' input). Seeded and
/// bounded, so every run sends the same cases and a failure names the case to replay.
///
/// Each case is sent on its own connection, which is then half-closed: the server has every byte
/// it will get, so it must answer or close at once. A 5xx, a response that is not HTTP, or a
/// connection that neither answers nor closes within the timeout (a hang) fails the case (501
/// and 505, the parser's documented refusals of unknown methods and versions, do not); after
/// all of them the server must still answer the labelers.
@Suite("Fuzzed requests")
struct FuzzedRequestTests {
    static let seed: UInt64 = 19
    static let workers = 4
    static let casesPerWorker = 8_000

    /// Values that have broken servers: limits, wrong types, NUL and lone surrogates, deep nesting.
    static let interestingValues = [
        "null", "true", "0", "-1", "1e308", "-1e308", "1e999", "9223372036854775808", "0.5", "-0", "1E-400",
        "\"\"", "\"\\u0000\"", "\"\\ud800\"", "\"\\u202e\"", "\"e\\u0301\"", "\"\(String(repeating: "x", count: 3_000))\"",
        "[]", "{}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "{\"\": null}", "\"<script>\"",
        "\"=SUM(1+1)\"", "[1, 2, 2]", "[null]", "\"rank\"", "\"1\"", "1.0", "2147483648",
    ]

    /// Byte strings that have broken HTTP parsers.
    static let interestingBytes: [[UInt8]] = [
        "\r\n", "\r\n\r\n", "\n", "\r", "\0", ":", " ", "\t", "%00", "%", "/../", "?", "&", "=", "#", ",",
        "Content-Length: 5\r\n", "Content-Length: -1\r\n", "Content-Length: 99999999999999999999\r\n",
        "Transfer-Encoding: chunked\r\n", "Transfer-Encoding: gzip, chunked\r\n", "Expect: 100-continue\r\n",
        "Connection: keep-alive\r\n", "Host: a\r\n", "Cookie: tally_session=x\r\n", "0\r\n\r\n", "ffffffffffffffff\r\n",
        "GET / HTTP/1.1\r\n\r\n", "HTTP/1.0", "HTTP/9.9", " HTTP/1.1", "é", "🚀",
    ].map { Array($0.utf8) } + [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0x7F]]

    @Test func fuzzedRequestsNeverCrashHangOrAnswer500() throws {
        let app = try TallyTestServer()
        // Signed in before the fuzzing: its failed sign-ins lock this address out of signing in.
        let rita = try signIn(app.port, "rita"), lena = try signIn(app.port, "lena")
        let corpus = try seedCorpus(app, researcher: rita, labeler: lena)
        let failures = Guarded<[String]>([]), counts = Guarded<[String: Int]>([:])
        let unanswered = Guarded<[(name: String, bytes: [UInt8])]>([])
        DispatchQueue.concurrentPerform(iterations: Self.workers) { worker in
            var generator = SeededGenerator(seed: Self.seed &+ UInt64(worker))
            for index in 0..<Self.casesPerWorker {
                let base = corpus.randomElement(using: &generator)!
                let (name, bytes) = mutate(base, using: &generator)
                let outcome = send(bytes, to: app.port, timeoutSeconds: 5)
                let label = "worker \(worker) case \(index) (\(base.name), \(name))"
                if outcome.kind == "hang" {
                    // Beside the rest of `make test` on two cores a handler can wait its turn
                    // for seconds: the case is sent again once the fuzzing is over.
                    unanswered.withLock { $0.append((label, bytes)) }
                    continue
                }
                counts.withLock { $0[outcome.kind, default: 0] += 1 }
                if let failure = outcome.failure {
                    failures.withLock { $0.append("\(label): \(failure)\n\(String(decoding: bytes.prefix(600), as: UTF8.self))") }
                }
            }
        }
        // A hang is a case that goes unanswered again, alone, with more time.
        for (label, bytes) in unanswered.withLock({ $0 }) {
            let outcome = send(bytes, to: app.port, timeoutSeconds: 20)
            counts.withLock { $0[outcome.kind, default: 0] += 1 }
            if let failure = outcome.failure {
                failures.withLock { $0.append("\(label), sent twice: \(failure)\n\(String(decoding: bytes.prefix(600), as: UTF8.self))") }
            }
        }
        let found = failures.withLock { $0 }
        #expect(found.isEmpty, "\(found.count) failing cases; the first: \(found.prefix(3).joined(separator: "\n---\n"))")
        let seen = counts.withLock { $0 }
        #expect(seen.values.reduce(0, +) == Self.workers * Self.casesPerWorker)
        // The mutations reach both the parser's refusals and the routes' own validation.
        #expect(seen["4xx", default: 0] > 1_000 && seen["2xx", default: 0] > 100, "\(seen)")
        print("fuzzed requests: \(seen.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); "
              + "\(unanswered.withLock { $0.count }) unanswered within 5 s under load, sent again")

        // Afterwards the server is healthy and a labeler works as before.
        #expect(try call(app.port, "GET", "/health").status == 200)
        #expect(try call(app.port, "GET", "/api/me/work", headers: ["Cookie": lena.cookie]).status == 200)
        #expect(try call(app.port, "GET", "/api/projects", headers: ["Cookie": rita.cookie]).status == 200)
    }

    /// A request of the corpus: its raw bytes, with the JSON body apart so values can be swapped.
    struct SeedRequest {
        let name: String
        let head: String
        let body: String?
        var bytes: [UInt8] { Array((head + (body.map { "Content-Length: \($0.utf8.count)\r\n\r\n" + $0 } ?? "\r\n")).utf8) }
    }

    /// Valid requests to the routes labelers and researchers use, on a project with prompts.
    private func seedCorpus(_ app: TallyTestServer, researcher rita: (cookie: String, csrf: String),
                            labeler lena: (cookie: String, csrf: String)) throws -> [SeedRequest] {
        let researcher = "Cookie: \(rita.cookie)\r\nX-CSRF-Token: \(rita.csrf)\r\n"
        let labeler = "Cookie: \(lena.cookie)\r\nX-CSRF-Token: \(lena.csrf)\r\n"
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: ["Cookie": rita.cookie, "X-CSRF-Token": rita.csrf],
                                            json: #"{"name": "Fuzzed", "rankingSize": 4}"#).json["id"] as? Int)
        let imported = try call(app.port, "POST", "/api/projects/\(project)/imports/prompts?file=seed.jsonl",
                                headers: ["Cookie": rita.cookie, "X-CSRF-Token": rita.csrf, "Content-Type": "application/jsonl"], rawBody: LabelingTests.validImport)
        #expect((200..<300).contains(imported.status), "\(imported.body)")
        let task = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lena.cookie])
        let prompt = (task.json["prompt"] as? [String: Any])?["id"] as? Int ?? 1
        let ids = ((task.json["prompt"] as? [String: Any])?["candidates"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
        let entries = ids.enumerated().map { #"{"candidateId": \#($1), "rank": \#($0 + 1), "rating": 5, "flags": []}"# }.joined(separator: ", ")
        func request(_ method: String, _ target: String, _ identity: String, json: String? = nil, type: String = "application/json") -> String {
            "\(method) \(target) HTTP/1.1\r\nHost: test\r\n\(identity)" + (json == nil ? "" : "Content-Type: \(type)\r\n")
        }
        return [
            SeedRequest(name: "health", head: request("GET", "/health", ""), body: nil),
            SeedRequest(name: "static page", head: request("GET", "/label.html", ""), body: nil),
            SeedRequest(name: "projects", head: request("GET", "/api/projects", labeler), body: nil),
            SeedRequest(name: "create project", head: request("POST", "/api/projects", researcher, json: ""),
                        body: #"{"name": "Fuzz", "guidelines": "Be kind.", "rankingSize": 3, "flags": ["hallucination"], "overlap": 2}"#),
            SeedRequest(name: "change project", head: request("PATCH", "/api/projects/\(project)", researcher, json: ""),
                        body: #"{"guidelines": "Prefer short answers.", "goldRate": 0.1, "assignmentMinutes": 30}"#),
            SeedRequest(name: "import", head: request("POST", "/api/projects/\(project)/imports/prompts?file=x.jsonl", researcher, json: "", type: "application/jsonl"),
                        body: #"{"prompt": "Say hi.", "candidates": [{"text": "hi", "model": "m"}, {"text": "hello", "model": "n"}]}"#),
            SeedRequest(name: "next ranking", head: request("GET", "/api/projects/\(project)/next-ranking", labeler), body: nil),
            SeedRequest(name: "ranking", head: request("POST", "/api/prompts/\(prompt)/rankings", labeler, json: ""),
                        body: #"{"entries": [\#(entries)], "shownOrder": \#(ids), "comment": "ok", "secondsSpent": 12.5}"#),
            SeedRequest(name: "demonstration", head: request("POST", "/api/prompts/\(prompt)/demonstrations", labeler, json: ""),
                        body: #"{"text": "A careful answer.", "secondsSpent": 30}"#),
            SeedRequest(name: "labeler prompt", head: request("POST", "/api/projects/\(project)/prompts", labeler, json: ""),
                        body: #"{"prompt": "What is 2 + 2?", "category": "open_qa"}"#),
            SeedRequest(name: "export", head: request("GET", "/api/projects/\(project)/exports/comparisons?since=2026-01-01T00:00:00Z&ties=skip", researcher), body: nil),
            SeedRequest(name: "statistics", head: request("GET", "/api/projects/\(project)/statistics", researcher), body: nil),
            SeedRequest(name: "quality", head: request("GET", "/api/projects/\(project)/quality", researcher), body: nil),
            SeedRequest(name: "prompt browser", head: request("GET", "/api/projects/\(project)/prompts?limit=5&split=train", researcher), body: nil),
            SeedRequest(name: "home", head: request("GET", "/api/me/work", labeler), body: nil),
            SeedRequest(name: "sign in", head: request("POST", "/api/session", "", json: ""), body: #"{"username": "nobody", "password": "wrong password"}"#),
            SeedRequest(name: "register endpoint", head: request("POST", "/api/model-endpoints", researcher, json: ""),
                        body: #"{"name": "fuzzed endpoint", "baseUrl": "http://127.0.0.1:9/v1", "model": "m", "apiKey": "sk-fuzz", "retries": 2, "requestsPerMinute": 60}"#),
            SeedRequest(name: "chat completion", head: request("POST", "/v1/chat/completions", researcher, json: ""),
                        body: #"{"model": "none", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}"#),
        ]
    }

    /// One to four mutations of one kind: of the JSON body's values (the length kept right, so
    /// the body reaches the route) or of the raw bytes (so the parser sees it).
    private func mutate(_ seed: SeedRequest, using generator: inout SeededGenerator) -> (String, [UInt8]) {
        if let body = seed.body, Bool.random(using: &generator) {
            var text = body
            for _ in 0..<Int.random(in: 1...3, using: &generator) { text = replaceValue(in: text, using: &generator) }
            return ("values", SeedRequest(name: seed.name, head: seed.head, body: text).bytes)
        }
        var bytes = seed.bytes
        var names: [String] = []
        for _ in 0..<Int.random(in: 1...4, using: &generator) {
            let at = Int.random(in: 0...bytes.count, using: &generator)
            switch Int.random(in: 0..<6, using: &generator) {
            case 0 where !bytes.isEmpty:
                bytes[min(at, bytes.count - 1)] = UInt8.random(in: 0...255, using: &generator)
                names.append("flip")
            case 1:
                bytes.insert(contentsOf: Self.interestingBytes.randomElement(using: &generator)!, at: at)
                names.append("insert")
            case 2:
                let end = min(bytes.count, at + Int.random(in: 1...40, using: &generator))
                bytes.removeSubrange(at..<end)
                names.append("delete")
            case 3:
                let end = min(bytes.count, at + Int.random(in: 1...80, using: &generator))
                bytes.insert(contentsOf: Array(bytes[at..<end]), at: at)
                names.append("repeat")
            case 4:
                bytes = Array(bytes[..<at])
                names.append("truncate")
            default:
                bytes += seed.bytes
                names.append("pipeline")
            }
        }
        return (names.joined(separator: "+"), bytes)
    }

    /// Swaps one scalar value of a JSON text (after a colon or inside an array) for another.
    private func replaceValue(in text: String, using generator: inout SeededGenerator) -> String {
        let pattern = try! NSRegularExpression(pattern: #"(?<=[:\[,]\s?)("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|true|false|null|\[\]|\{\})"#)
        let matches = pattern.matches(in: text, range: NSRange(text.startIndex..., in: text))
        guard let match = matches.randomElement(using: &generator), let range = Range(match.range, in: text) else { return text }
        return text.replacingCharacters(in: range, with: Self.interestingValues.randomElement(using: &generator)!)
    }

    struct Outcome {
        let kind: String
        let failure: String?
    }

    /// Sends one case on a fresh, then half-closed, connection and reads until the server closes.
    private func send(_ bytes: [UInt8], to port: Int, timeoutSeconds: Int) -> Outcome {
        do {
            let client = try RawClient(port: port, timeoutSeconds: timeoutSeconds)
            try? client.send(bytes)
            client.finishSending()
            let answer = try client.readToEnd()
            guard !answer.isEmpty else { return Outcome(kind: "closed", failure: nil) }
            let text = String(decoding: answer, as: UTF8.self)
            let statuses = text.components(separatedBy: "\r\n").filter { $0.hasPrefix("HTTP/1.1 ") }.compactMap { Int($0.dropFirst(9).prefix(3)) }
            guard let first = statuses.first, text.hasPrefix("HTTP/1.1 ") else {
                return Outcome(kind: "not HTTP", failure: "the answer is not HTTP: \(text.prefix(200))")
            }
            // The parser's documented refusals (Docs/http.md): a method or transfer coding it does
            // not implement (501), an HTTP version it does not speak (505). Any other 5xx is a fault.
            if let error = statuses.first(where: { $0 >= 500 && ![501, 505].contains($0) }) {
                return Outcome(kind: "5xx", failure: "answered \(error): \(text.prefix(400))")
            }
            return Outcome(kind: [501, 505].contains(first) ? "501 or 505" : "\(first / 100)xx", failure: nil)
        } catch {
            return Outcome(kind: "hang", failure: "\(error)")
        }
    }
}
