import Cryptography
import Foundation
import TallyTestSupport
import Testing
@testable import TallyServer

@Suite("Projects, imports, rankings and exports over HTTP", .serialized)
struct LabelingTests {
    static let validImport = """
        {"prompt": "Name three primes.", "category": "open_qa", "split": "train", "candidates": [{"text": "2, 3, 5", "model": "m1"}, {"text": "1, 2, 3", "model": "m2"}, {"text": "3, 5, 7", "model": "m3"}, {"text": "<script>alert(1)</script>", "model": "m4"}]}
        {"prompt": [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Tell a joke."}], "split": "test", "candidates": [{"text": "A joke.", "model": "m1"}, {"text": "No.", "model": "m2"}]}

        {"prompt": "Summarize: the cat sat.", "category": "summarization", "metadata": {"source": "unit test"}}
        """

    private func setUp() throws -> (TallyTestServer, researcher: (cookie: String, csrf: String), labeler: (cookie: String, csrf: String), project: Int) {
        let app = try TallyTestServer()
        let researcher = try signIn(app.port, "rita")
        let labeler = try signIn(app.port, "lena")
        let created = try call(app.port, "POST", "/api/projects", headers: ["Cookie": researcher.cookie, "X-CSRF-Token": researcher.csrf],
                               json: #"{"name": "Helpfulness", "guidelines": "Prefer truthful answers.", "rankingSize": 4}"#)
        #expect(created.status == 201, "\(created.body)")
        let project = try #require(created.json["id"] as? Int)
        #expect((created.json["flags"] as? [String])?.contains("hallucination") == true)
        return (app, researcher, labeler, project)
    }

    private func importBody(_ app: TallyTestServer, _ session: (cookie: String, csrf: String), project: Int, _ body: String) throws -> APIResponse {
        try call(app.port, "POST", "/api/projects/\(project)/imports/prompts?file=prompts.jsonl",
                 headers: ["Cookie": session.cookie, "X-CSRF-Token": session.csrf, "Content-Type": "application/jsonl", "Content-Length": "\(body.utf8.count)"],
                 rawBody: body)
    }

    @Test func importsAreValidatedWholeThenStoredOnceAndOnlyOnce() throws {
        let (app, researcher, labeler, project) = try setUp()
        #expect(try call(app.port, "POST", "/api/projects", headers: ["Cookie": labeler.cookie, "X-CSRF-Token": labeler.csrf], json: #"{"name": "x"}"#).status == 403)
        let bad = """
            {"prompt": "Fine line."}
            {"prompt": "", "split": "holdout"}
            not json
            {"prompt": [{"role": "robot", "content": "x"}], "candidates": [{"text": 3, "model": "m"}]}
            {"promt": "typo"}
            """
        let rejected = try importBody(app, researcher, project: project, bad)
        #expect(rejected.status == 422)
        let problems = try #require((rejected.json["error"] as? [String: Any])?["problems"] as? [[String: Any]])
        let located = Set(problems.map { "\($0["line"] as! Int):\($0["field"] as! String)" })
        #expect(located.isSuperset(of: ["2:prompt", "2:split", "3:", "4:prompt[0].role", "4:candidates[0].text", "5:promt", "5:prompt"]), "\(located)")
        #expect(problems.allSatisfy { $0["file"] as? String == "prompts.jsonl" })
        // All or nothing: the good first line was not stored either.
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM prompts") } == 0)

        let first = try importBody(app, researcher, project: project, Self.validImport)
        #expect(first.status == 200, "\(first.body)")
        #expect(first.json["promptsCreated"] as? Int == 3 && first.json["candidatesAdded"] as? Int == 6)
        let again = try importBody(app, researcher, project: project, Self.validImport)
        #expect(again.json["promptsCreated"] as? Int == 0 && again.json["promptsExisting"] as? Int == 3 && again.json["candidatesAdded"] as? Int == 0)
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM candidates") } == 6)
    }

    @Test func rankingsAreCheckedAndExportedAsTRLPairsWithoutTies() throws {
        let (app, researcher, labeler, project) = try setUp()
        _ = try importBody(app, researcher, project: project, Self.validImport)
        let prompt = try call(app.port, "GET", "/api/prompts/1", headers: ["Cookie": labeler.cookie])
        let candidates = try #require(prompt.json["candidates"] as? [[String: Any]])
        let ids = candidates.map { $0["id"] as! Int }
        #expect(candidates.map { $0["text"] as! String }.contains("<script>alert(1)</script>"))
        let headers = ["Cookie": labeler.cookie, "X-CSRF-Token": labeler.csrf]
        func ranking(_ ranks: [Int], rating: Int = 5, flags: String = "[]", order: [Int]? = nil) -> String {
            let entries = zip(ids, ranks).map { #"{"candidateId": \#($0), "rank": \#($1), "rating": \#(rating), "flags": \#(flags)}"# }
            return #"{"entries": [\#(entries.joined(separator: ","))], "shownOrder": \#(order ?? ids.reversed()), "comment": "ok", "secondsSpent": 42.5}"#
        }
        let missing = try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers,
                               json: #"{"entries": [{"candidateId": \#(ids[0]), "rank": 1}], "shownOrder": \#(ids)}"#)
        #expect(missing.status == 400 && missing.body.contains("exactly once"))
        #expect(try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers, json: ranking([1, 2, 2, 3], rating: 9)).body.contains("entries[0].rating"))
        #expect(try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers, json: ranking([1, 2, 2, 3], flags: #"["rude"]"#)).body.contains("'rude'"))
        #expect(try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers, json: ranking([1, 2, 2, 3], order: [ids[0]])).body.contains("shownOrder"))
        #expect(try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers, json: ranking([2, 2, 3, 4])).body.contains("rank 1"))
        // Rankings that cannot be submitted wrong: dense ranks, a rating of every answer (the
        // project's default), and an all-tied ranking only when the labeler says so.
        let gap = try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers, json: ranking([1, 3, 3, 4]))
        #expect(gap.status == 400 && gap.body.contains("rank densely (1, 2, 2, 3): rank 3 has no rank 2 above it"), "\(gap.body)")
        let unrated = try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers,
                               json: #"{"entries": [\#(zip(ids, [1, 2, 3, 4]).map { #"{"candidateId": \#($0), "rank": \#($1)}"# }.joined(separator: ","))], "shownOrder": \#(Array(ids.reversed()))}"#)
        #expect(unrated.status == 400 && unrated.body.contains("entries[0].rating' is missing"), "\(unrated.body)")
        let untouched = try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers, json: ranking([1, 1, 1, 1]))
        #expect(untouched.status == 400 && untouched.body.contains("every answer is tied at rank 1: confirm it"), "\(untouched.body)")
        let mislabeled = ranking([1, 2, 2, 3]).replacingOccurrences(of: #""comment": "ok""#, with: #""comment": "ok", "allEqual": true"#)
        #expect(try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers, json: mislabeled).body.contains("'allEqual' is true, but the ranks differ"))
        let researcherRanking = try call(app.port, "POST", "/api/prompts/1/rankings", headers: ["Cookie": researcher.cookie, "X-CSRF-Token": researcher.csrf], json: ranking([1, 2, 2, 3]))
        #expect(researcherRanking.status == 403)

        let accepted = try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers, json: ranking([1, 2, 2, 3], flags: #"["hallucination"]"#))
        #expect(accepted.status == 201, "\(accepted.body)")
        #expect(try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers, json: ranking([1, 2, 2, 3])).status == 409)
        let conversation = try call(app.port, "GET", "/api/prompts/2", headers: ["Cookie": labeler.cookie])
        let conversationIDs = try #require(conversation.json["candidates"] as? [[String: Any]]).map { $0["id"] as! Int }
        #expect(try call(app.port, "POST", "/api/prompts/2/rankings", headers: headers,
                         json: #"{"entries": [{"candidateId": \#(conversationIDs[1]), "rank": 1, "rating": 5}, {"candidateId": \#(conversationIDs[0]), "rank": 2, "rating": 2}], "shownOrder": \#(conversationIDs)}"#).status == 201)

        #expect(try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons", headers: ["Cookie": labeler.cookie]).status == 403)
        let export = try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons?margin=rank-distance", headers: ["Cookie": researcher.cookie])
        #expect(export.status == 200)
        #expect(export.header("Content-Type") == "application/jsonl")
        let lines = export.body.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        // The project holds a conversation, so every line is conversational: one type per file,
        // the text prompt as one user message.
        #expect(lines.allSatisfy { $0["prompt"] is [[String: String]] && $0["chosen"] is [[String: String]] && $0["rejected"] is [[String: String]] })
        func content(_ value: Any?) -> String { (value as? [[String: String]])?.last?["content"] ?? "" }
        let textLines = lines.filter { ($0["prompt"] as? [[String: String]])?.count == 1 }
        // Ranks 1, 2, 2, 3: five pairs; the tie between the two second places is left out.
        let textPairs = textLines.map { "\(content($0["chosen"]))>\(content($0["rejected"])):\($0["margin"]!)" }
        #expect(Set(textPairs) == ["2, 3, 5>1, 2, 3:1", "2, 3, 5>3, 5, 7:1", "2, 3, 5><script>alert(1)</script>:2",
                                   "1, 2, 3><script>alert(1)</script>:1", "3, 5, 7><script>alert(1)</script>:1"])
        #expect(textLines.allSatisfy { $0["split"] as? String == "train" && $0["labeler_id"] as? Int == 3 && $0["rank_distance"] as? Int == $0["margin"] as? Int })
        let conversational = try #require(lines.first { ($0["prompt"] as? [Any])?.count ?? 0 > 1 })
        #expect((conversational["prompt"] as! [[String: String]]).last?["content"] == "Tell a joke.")
        #expect((conversational["chosen"] as! [[String: String]]) == [["role": "assistant", "content": "No."]])
        #expect(conversational["split"] as? String == "test")
    }
}

@Suite("Export formats, filters and manifests over HTTP", .serialized)
struct ExportTests {
    @Test func everyFormatWithFiltersAndAManifestThatMatchesTheDownload() throws {
        let app = try TallyTestServer()
        let researcher = try signIn(app.port, "rita"), labeler = try signIn(app.port, "lena")
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: ["Cookie": researcher.cookie, "X-CSRF-Token": researcher.csrf],
                                            json: #"{"name": "Exports", "rankingSize": 3, "ratingsRequired": false}"#).json["id"] as? Int)
        let body = """
            {"prompt": "Say \\"hi\\", politely.", "split": "train", "candidates": [{"text": "Hi, there", "model": "a"}, {"text": "Hello", "model": "b"}, {"text": "yo", "model": "c"}]}
            {"prompt": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "Pick one."}], "split": "test", "candidates": [{"text": "one", "model": "a"}, {"text": "two", "model": "b"}]}
            """
        _ = try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: ["Cookie": researcher.cookie, "X-CSRF-Token": researcher.csrf], rawBody: body)
        let headers = ["Cookie": labeler.cookie, "X-CSRF-Token": labeler.csrf]
        // Prompt 1: "Hi, there" 1, "Hello" 1 (a tie), "yo" 2; prompt 2: "two" over "one".
        #expect(try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers,
                         json: #"{"entries": [{"candidateId": 1, "rank": 1, "rating": 6, "flags": ["hallucination", "expresses_opinion"]}, {"candidateId": 2, "rank": 1, "rating": 6}, {"candidateId": 3, "rank": 2, "rating": 2}], "shownOrder": [3, 1, 2], "secondsSpent": 30}"#).status == 201)
        #expect(try call(app.port, "POST", "/api/prompts/2/rankings", headers: headers,
                         json: #"{"entries": [{"candidateId": 4, "rank": 2}, {"candidateId": 5, "rank": 1}], "shownOrder": [4, 5]}"#).status == 201)
        let cookie = ["Cookie": researcher.cookie]
        func lines(_ path: String) throws -> [[String: Any]] {
            try call(app.port, "GET", path, headers: cookie).body.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        }

        let hh = try lines("/api/projects/\(project)/exports/hh-rlhf")
        #expect(hh.count == 3)
        #expect(hh.contains { $0["chosen"] as? String == "\n\nHuman: Say \"hi\", politely.\n\nAssistant: Hi, there" && $0["rejected"] as? String == "\n\nHuman: Say \"hi\", politely.\n\nAssistant: yo" })
        #expect(hh.contains { $0["chosen"] as? String == "\n\nHuman: Hello\n\nAssistant: Hi!\n\nHuman: Pick one.\n\nAssistant: two" })

        let ties = try lines("/api/projects/\(project)/exports/comparisons?ties=only")
        #expect(ties.count == 1 && ties[0]["rank_distance"] as? Int == 0)
        // No margin unless asked for (TRL would put it inside the reward-model loss); a text
        // form is refused where a conversation has none.
        #expect(ties[0]["margin"] == nil && ties[0]["prompt"] is [Any])
        let refusedForm = try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons?form=text", headers: cookie)
        #expect(refusedForm.status == 400 && refusedForm.body.contains("form=conversational"), "\(refusedForm.body)")
        #expect(try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons?margin=strength", headers: cookie).status == 400)
        #expect(try lines("/api/projects/\(project)/exports/sft-prompt-completion?form=conversational").allSatisfy { $0["prompt"] is [Any] })
        let testOnly = try lines("/api/projects/\(project)/exports/comparisons?split=test")
        #expect(testOnly.count == 1 && testOnly[0]["split"] as? String == "test")
        #expect(try lines("/api/projects/\(project)/exports/comparisons?group=held_out").isEmpty)
        #expect(try lines("/api/projects/\(project)/exports/comparisons?until=2000-01-01T00:00:00Z").isEmpty)

        let raw = try lines("/api/projects/\(project)/exports/rankings")
        #expect(raw.count == 2)
        let first = try #require(raw.first { $0["prompt_id"] as? Int == 1 })
        #expect(first["shown_order"] as? [Int] == [3, 1, 2] && first["seconds_spent"] as? Double == 30 && first["labeler_group"] as? String == "training")
        #expect((first["candidates"] as? [[String: Any]])?.first?["flags"] as? [String] == ["hallucination", "expresses_opinion"])

        let csv = try call(app.port, "GET", "/api/projects/\(project)/exports/ratings-csv", headers: cookie)
        #expect(csv.header("Content-Type") == "text/csv; charset=utf-8")
        let rows = csv.body.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(rows.count == 6)
        #expect(rows[0].hasPrefix("ranking_id,prompt_id,candidate_id,model"))
        #expect(rows.contains { $0.contains(",1,6,hallucination;expresses_opinion,train,") })

        // The manifest describes exactly the bytes of the same request.
        let manifest = try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons/manifest", headers: cookie).json
        let until = try #require((manifest["filter"] as? [String: Any])?["until"] as? String)
        let download = try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons?until=\(until)", headers: cookie)
        #expect(manifest["sha256"] as? String == SHA256.hexDigest(download.body))
        #expect(manifest["records"] as? Int == 3 && manifest["rankings"] as? Int == 2 && manifest["schemaVersion"] as? Int == 2)
        #expect((manifest["options"] as? [String: Any])?["promptForm"] as? String == "conversational")

        // Hugging Face datasets loads each export typed, the mixed project's prompts as messages.
        if FileManager.default.isExecutableFile(atPath: checkerPython) {
            var files: [String] = []
            for format in ["comparisons", "rankings", "hh-rlhf"] {
                let path = TemporaryFiles.path("export-\(format).jsonl")
                try call(app.port, "GET", "/api/projects/\(project)/exports/\(format)", headers: cookie).body.write(toFile: path, atomically: true, encoding: .utf8)
                files.append(path)
            }
            let run = try runChecker("check_datasets_load.py", besides: #filePath, files)
            #expect(run.status == 0, "\(run.errors.suffix(2000))")
            let loaded = run.json as? [String: [String: Any]] ?? [:]
            let comparisons = loaded[files[0]] ?? [:]
            #expect(comparisons["rows"] as? Int == 3, "\(loaded)")
            let features = comparisons["features"] as? [String: String] ?? [:]
            #expect((features["prompt"] ?? "").contains("role") && (features["chosen"] ?? "").contains("content") && (features["rank_distance"] ?? "").contains("int64"), "\(features)")
            #expect(loaded[files[1]]?["rows"] as? Int == 2 && loaded[files[2]]?["rows"] as? Int == 3, "\(loaded)")
        }

        #expect(try call(app.port, "GET", "/api/projects/\(project)/exports/parquet", headers: cookie).status == 404)
        #expect(try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons?split=dev", headers: cookie).status == 400)
        #expect(try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons?since=yesterday", headers: cookie).status == 400)
    }
}

@Suite("Comparison round trip over HTTP", .serialized)
struct RoundTripTests {
    @Test func exportedComparisonsImportIntoAFreshProjectAsTheSamePairs() throws {
        let app = try TallyTestServer()
        let researcher = try signIn(app.port, "rita"), labeler = try signIn(app.port, "lena")
        let write = ["Cookie": researcher.cookie, "X-CSRF-Token": researcher.csrf]
        let source = try #require(try call(app.port, "POST", "/api/projects", headers: write, json: #"{"name": "Source", "ratingsRequired": false}"#).json["id"] as? Int)
        _ = try call(app.port, "POST", "/api/projects/\(source)/imports/prompts", headers: write, rawBody: LabelingTests.validImport)
        let headers = ["Cookie": labeler.cookie, "X-CSRF-Token": labeler.csrf]
        // Dense ranks with a tie (1, 2, 2, 3) and a two-answer conversation.
        #expect(try call(app.port, "POST", "/api/prompts/1/rankings", headers: headers,
                         json: #"{"entries": [{"candidateId": 1, "rank": 2}, {"candidateId": 2, "rank": 1}, {"candidateId": 3, "rank": 2}, {"candidateId": 4, "rank": 3}], "shownOrder": [1, 2, 3, 4]}"#).status == 201)
        #expect(try call(app.port, "POST", "/api/prompts/2/rankings", headers: headers,
                         json: #"{"entries": [{"candidateId": 5, "rank": 2}, {"candidateId": 6, "rank": 1}], "shownOrder": [5, 6]}"#).status == 201)
        let exported = try call(app.port, "GET", "/api/projects/\(source)/exports/comparisons", headers: ["Cookie": researcher.cookie]).body

        let copy = try #require(try call(app.port, "POST", "/api/projects", headers: write, json: #"{"name": "Copy"}"#).json["id"] as? Int)
        let imported = try call(app.port, "POST", "/api/projects/\(copy)/imports/comparisons?file=export.jsonl", headers: write, rawBody: exported)
        #expect(imported.status == 200, "\(imported.body)")
        #expect(imported.json["rankingsCreated"] as? Int == 2 && imported.json["pairs"] as? Int == 6)
        let again = try call(app.port, "GET", "/api/projects/\(copy)/exports/comparisons", headers: ["Cookie": researcher.cookie]).body

        func pairs(_ text: String) -> Set<String> {
            Set(text.split(separator: "\n").map { line in
                let object = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                let prompt = String(data: try! JSONSerialization.data(withJSONObject: object["prompt"]!, options: [.sortedKeys, .fragmentsAllowed]), encoding: .utf8)!
                let chosen = String(data: try! JSONSerialization.data(withJSONObject: object["chosen"]!, options: [.sortedKeys, .fragmentsAllowed]), encoding: .utf8)!
                let rejected = String(data: try! JSONSerialization.data(withJSONObject: object["rejected"]!, options: [.sortedKeys, .fragmentsAllowed]), encoding: .utf8)!
                return "\(prompt)|\(chosen)|\(rejected)|\(object["rank_distance"]!)|\(object["split"]!)"
            })
        }
        #expect(pairs(exported).count == 6, "\(exported)")
        #expect(pairs(again) == pairs(exported))
        // The imported rankings belong to a placeholder that cannot sign in.
        let placeholder = try call(app.port, "POST", "/api/session", json: #"{"username": "imported-3", "password": "anything at all"}"#)
        #expect(placeholder.status == 401 || placeholder.status == 403)
    }

    @Test func contradictionsAndBadLinesAreRefusedWhole() throws {
        let app = try TallyTestServer()
        let researcher = try signIn(app.port, "rita")
        let write = ["Cookie": researcher.cookie, "X-CSRF-Token": researcher.csrf]
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: write, json: #"{"name": "Target"}"#).json["id"] as? Int)
        let cycle = """
            {"prompt": "p", "chosen": "a", "rejected": "b", "ranking_id": 1}
            {"prompt": "p", "chosen": "b", "rejected": "a", "ranking_id": 1}
            {"prompt": "q", "chosen": "x", "rejected": "x"}
            {"prompt": "r", "chosen": "x"}
            """
        let response = try call(app.port, "POST", "/api/projects/\(project)/imports/comparisons", headers: write, rawBody: cycle)
        #expect(response.status == 422)
        let problems = try #require((response.json["error"] as? [String: Any])?["problems"] as? [[String: Any]])
        let located = Set(problems.map { "\($0["line"] as! Int):\($0["field"] as! String)" })
        #expect(located.isSuperset(of: ["3:rejected", "4:rejected", "1:"]), "\(located)")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM prompts") } == 0)
    }
}

@Suite("Demonstrations over HTTP", .serialized)
struct DemonstrationTests {
    @Test func labelersWriteDemonstrationsThatExportForSFT() throws {
        let app = try TallyTestServer()
        let researcher = try signIn(app.port, "rita"), labeler = try signIn(app.port, "lena")
        let write = ["Cookie": researcher.cookie, "X-CSRF-Token": researcher.csrf]
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: write, json: #"{"name": "Demos"}"#).json["id"] as? Int)
        _ = try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: write, rawBody: LabelingTests.validImport)
        let headers = ["Cookie": labeler.cookie, "X-CSRF-Token": labeler.csrf]
        let task = try call(app.port, "GET", "/api/projects/\(project)/next-demonstration", headers: headers)
        #expect(task.json["remaining"] as? Int == 3)
        let prompt = try #require(task.json["prompt"] as? [String: Any])
        let promptID = try #require(prompt["id"] as? Int)
        let suggestion = try #require((prompt["candidates"] as? [[String: Any]])?.first?["id"] as? Int)
        #expect(try call(app.port, "POST", "/api/prompts/\(promptID)/demonstrations", headers: headers, json: #"{"text": "   "}"#).status == 400)
        #expect(try call(app.port, "POST", "/api/prompts/\(promptID)/demonstrations", headers: headers, json: #"{"text": "x", "prefilledFromCandidateId": 999}"#).status == 400)
        #expect(try call(app.port, "POST", "/api/prompts/\(promptID)/demonstrations", headers: headers,
                         json: #"{"text": "2, 3 and 5.", "prefilledFromCandidateId": \#(suggestion), "secondsSpent": 40}"#).status == 201)
        #expect(try call(app.port, "POST", "/api/prompts/\(promptID)/demonstrations", headers: headers, json: #"{"text": "again"}"#).status == 409)
        #expect(try call(app.port, "POST", "/api/prompts/2/demonstrations", headers: headers, json: #"{"text": "Why did the chicken cross the road?"}"#).status == 201)
        #expect(try call(app.port, "GET", "/api/projects/\(project)/next-demonstration", headers: headers).json["remaining"] as? Int == 1)

        let cookie = ["Cookie": researcher.cookie]
        let messages = try call(app.port, "GET", "/api/projects/\(project)/exports/sft-messages", headers: cookie).body.split(separator: "\n")
            .map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(messages.count == 2)
        #expect((messages[0]["messages"] as? [[String: String]]) == [["role": "user", "content": "Name three primes."], ["role": "assistant", "content": "2, 3 and 5."]])
        #expect(messages[0]["prefilled"] as? Bool == true)
        #expect((messages[1]["messages"] as? [[String: String]])?.count == 4)
        let pairs = try call(app.port, "GET", "/api/projects/\(project)/exports/sft-prompt-completion?split=train", headers: cookie).body.split(separator: "\n")
            .map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        // The project holds a conversation prompt: the file is conversational throughout.
        #expect(pairs.count == 1 && pairs[0]["prompt"] as? [[String: String]] == [["role": "user", "content": "Name three primes."]]
                && pairs[0]["completion"] as? [[String: String]] == [["role": "assistant", "content": "2, 3 and 5."]], "\(pairs)")
        let manifest = try call(app.port, "GET", "/api/projects/\(project)/exports/sft-messages/manifest", headers: cookie).json
        #expect(manifest["demonstrations"] as? Int == 2 && manifest["records"] as? Int == 2)
    }
}
