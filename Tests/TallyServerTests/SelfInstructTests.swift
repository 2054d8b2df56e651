@testable import BackgroundTraining
import Foundation
import Labeling
import Logging
import Storage
import TallyTestSupport
import Testing
@testable import TallyServer

/// Self-Instruct's bootstrap: the paper's prompt and filters on constructed cases, and the job
/// through the worker with a tiny model.
@Suite("Self-Instruct prompts", .serialized)
struct SelfInstructTests {
    typealias Session = (cookie: String, csrf: String)

    private func writeHeaders(_ session: Session) -> [String: String] { ["Cookie": session.cookie, "X-CSRF-Token": session.csrf] }

    @Test func thePapersPromptAndFilters() {
        let prompt = SelfInstructFilter.prompt(["Name three  primes.", "List the steps to boil an egg:"])
        #expect(prompt == "Come up with a series of tasks:\n1. Name three primes.\n2. List the steps to boil an egg\n3.")
        #expect(SelfInstructFilter.instructions(in: " Write a haiku about   rain.\n4. Explain tides to a child.\n\n7. After the blank line") ==
                ["Write a haiku about rain.", "Explain tides to a child."])
        let kept = [RougeL.words("Explain tides to a child in two sentences.")]
        let cases: [(String, SelfInstructFilter.Reason?)] = [
            ("Explain tides to a child in three sentences.", .nearDuplicate),
            ("Too short here", .length),
            ("Draw a map of your town and describe it.", .unsuitable),
            ("Write a program that sorts a list of numbers.", .unsuitable),
            ("\"Quote\" a famous line and explain it.", .form),
            ("¿Qué hora es en Madrid ahora mismo?", .form),
            ("Suggest a name for a bakery that sells only bread.", nil),
        ]
        for (instruction, reason) in cases {
            #expect(SelfInstructFilter.reason(instruction, against: kept) == reason, "\(instruction)")
        }
    }

    @Test func aJobWritesPromptsOfSourceModelFromThePeoplesOwn() throws {
        let app = try TallyTestServer()
        let rita = try signIn(app.port, "rita")
        func project(_ name: String, prompts: Int) throws -> Int {
            let id = try #require(try call(app.port, "POST", "/api/projects", headers: writeHeaders(rita), json: #"{"name": "\#(name)"}"#).json["id"] as? Int)
            let seeds = ["Name a fruit that is yellow.", "Say something nice about the weather today.", "Tell me a story about a small fox.",
                         "Name three animals that live in the woods.", "Describe the sky on a sunny day.", "List two things a cat likes.",
                         "Explain why bananas are yellow.", "Write a sentence about a dog in a park."]
            let lines = seeds.prefix(prompts).map { #"{"prompt": "\#($0)"}"# }
            #expect(try call(app.port, "POST", "/api/projects/\(id)/imports/prompts", headers: writeHeaders(rita), rawBody: lines.joined(separator: "\n")).status == 200)
            return id
        }
        let seeded = try project("Seeded", prompts: 8), bare = try project("Bare", prompts: 1)
        let added = try CommandLineTests.tally(["model", "add", "--database", app.databasePath, "--path", try TrainingCommandTests.tinyModelFolder(), "--name", "tiny-base"])
        #expect(added.status == 0, "\(added.errorOutput)")
        let base = try #require(try app.database.read { try $0.queryScalarInt("SELECT id FROM model_versions WHERE name = 'tiny-base'") })
        let wrong = try call(app.port, "POST", "/api/projects/\(seeded)/jobs", headers: writeHeaders(rita), json: #"{"kind": "self-instruct", "baseModelId": \#(base), "parameters": {"count": 0}}"#)
        #expect(wrong.status == 400 && wrong.body.contains("parameter 'count': must be from 1 to 1000"), "\(wrong.body)")
        // A negative seed is refused by name, for every kind that takes one (it has no unsigned value).
        for kind in ["self-instruct", "sample", "sft", "rloo"] {
            let extra = kind == "rloo" ? #", "rewardModelId": 999"# : ""
            let negative = try call(app.port, "POST", "/api/projects/\(seeded)/jobs", headers: writeHeaders(rita),
                                    json: #"{"kind": "\#(kind)", "baseModelId": \#(base)\#(extra), "parameters": {"seed": -1}}"#)
            #expect(negative.status == 400 && (negative.body.contains("parameter 'seed': must be a whole number from 0") || negative.body.contains("rewardModelId")), "\(kind): \(negative.body)")
        }
        func enqueue(_ project: Int) throws -> Int {
            let queued = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita), json: """
                {"kind": "self-instruct", "baseModelId": \(base), "parameters": {"count": 6, "rounds": 3, "prompts-per-round": 4, "max-new-tokens": 32, "temperature": 1, "top-p": 1}}
                """)
            return try #require(queued.json["id"] as? Int, "\(queued.body)")
        }
        var configuration = Worker.Configuration(modelsDirectory: TemporaryFiles.path("self-instruct-models"))
        configuration.threads = 1
        var logger = Logger(label: "test-worker")
        logger.logLevel = .critical
        let worker = try Worker(database: app.database, configuration: configuration, logger: logger)

        let refused = try enqueue(bare)
        #expect(try worker.runNextJob())
        let failed = try call(app.port, "GET", "/api/jobs/\(refused)", headers: ["Cookie": rita.cookie]).json["job"] as? [String: Any] ?? [:]
        #expect(failed["status"] as? String == "failed" && (failed["error"] as? String)?.contains("has 1 text prompt written by people") == true, "\(failed)")

        let job = try enqueue(seeded)
        #expect(try worker.runNextJob())
        let detail = try call(app.port, "GET", "/api/jobs/\(job)", headers: ["Cookie": rita.cookie]).json
        #expect((detail["job"] as? [String: Any])?["status"] as? String == "succeeded", "\(detail)")
        let log = (detail["log"] as? [[String: Any]] ?? []).compactMap { $0["line"] as? String }
        let summary = try #require(log.first { $0.hasPrefix("Added ") }, "\(log)")
        let written = try app.database.read { try $0.query("SELECT content, source, json_extract(metadata, '$.self_instruct.model_version_id') AS model, json_extract(metadata, '$.self_instruct.job') AS job FROM prompts WHERE project_id = ? AND source = 'model'", [seeded]) }
        #expect(summary.hasPrefix("Added \(written.count) prompts of source model in "), "\(summary)")
        #expect(written.count <= 6)
        let seeds = try app.database.read { try $0.query("SELECT content FROM prompts WHERE project_id = ? AND source <> 'model'", [seeded]).map { RougeL.words(try $0.string("content")) } }
        for row in written {
            let text = try row.string("content")
            #expect(try row.int("model") == base && row.int("job") == job, "marked with the model version and the job")
            #expect(SelfInstructFilter.reason(text, against: seeds) == nil, "every stored prompt passes the filters: \(text)")
        }
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM job_snapshot WHERE job_id = ?", [job]) } == 8, "the seed tasks are the job's snapshot")
        // The paper's 175 seed tasks ship as a prompt import.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let seedFile = try String(contentsOf: root.appendingPathComponent("Demo/self-instruct-seed-tasks.jsonl"), encoding: .utf8)
        let paper = try #require(try call(app.port, "POST", "/api/projects", headers: writeHeaders(rita), json: #"{"name": "Paper seeds"}"#).json["id"] as? Int)
        let imported = try call(app.port, "POST", "/api/projects/\(paper)/imports/prompts", headers: writeHeaders(rita), rawBody: seedFile)
        #expect(imported.status == 200 && imported.json["promptsCreated"] as? Int == 175, "\(imported.body.prefix(300))")
        // The data browser filters by the new source.
        let browsed = try call(app.port, "GET", "/api/projects/\(seeded)/prompts?source=model", headers: ["Cookie": rita.cookie])
        #expect(browsed.status == 200 && (browsed.json["prompts"] as? [Any])?.count == written.count, "\(browsed.body)")
    }
}
