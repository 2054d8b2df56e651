@testable import BackgroundTraining
import Foundation
import Labeling
import Glibc
import Logging
import Storage
import TallyTestSupport
import TransformerCore
import Testing
@testable import TallyServer

/// The closed loop over HTTP with a tiny model: labels in through the API, SFT, reward-model
/// and RLOO jobs through the worker, the new policy's answers back as ranking tasks, lineage
/// from an answer to the labels behind it; and a worker process killed with SIGKILL mid-job
/// that resumes from its checkpoint, and a cancellation mid-run.
@Suite("Training jobs and the closed loop", .serialized)
struct TrainingLoopTests {
    typealias Session = (cookie: String, csrf: String)

    private func writeHeaders(_ session: Session) -> [String: String] { ["Cookie": session.cookie, "X-CSRF-Token": session.csrf] }

    /// A project of ranking size 3 with `labeled` prompts of three candidates (which lena
    /// demonstrates and ranks, the banana first), `waiting` prompts without candidates and two
    /// held-out prompts (split test); the tiny base model registered with `tally model add`.
    /// Returns the base's model version id.
    private func setUp(labeled: Int = 4, waiting: Int = 2) throws -> (TallyTestServer, project: Int, base: Int, rita: Session, lena: Session) {
        let app = try TallyTestServer()
        let rita = try signIn(app.port, "rita"), lena = try signIn(app.port, "lena")
        let created = try call(app.port, "POST", "/api/projects", headers: writeHeaders(rita), json: #"{"name": "Fruit loop", "rankingSize": 3, "overlap": 1}"#)
        let project = try #require(created.json["id"] as? Int, "\(created.body)")
        let lines = (0..<labeled).map { index in
            #"{"prompt": "name a fruit \#(index).", "candidates": [{"text": "a banana", "model": "m1"}, {"text": "the cat sat on the mat", "model": "m2"}, {"text": "the sky is blue", "model": "m3"}]}"#
        } + (0..<waiting).map { #"{"prompt": "name a fruit, please \#($0)."}"# }
          + (0..<2).map { #"{"prompt": "which fruit is yellow? \#($0)", "split": "test"}"# }
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: writeHeaders(rita), rawBody: lines.joined(separator: "\n")).status == 200)
        let added = try CommandLineTests.tally(["model", "add", "--database", app.databasePath, "--path", try TrainingCommandTests.tinyModelFolder(), "--name", "tiny-base"])
        #expect(added.status == 0, "\(added.errorOutput)")
        let base = try #require(try app.database.read { try $0.queryScalarInt("SELECT id FROM model_versions WHERE name = 'tiny-base'") })
        for _ in 0..<labeled {
            let promptID = try rankNext(app, project: project, lena)
            #expect(try call(app.port, "POST", "/api/prompts/\(promptID)/demonstrations", headers: writeHeaders(lena), json: #"{"text": "a banana"}"#).status == 201)
        }
        return (app, project, base, rita, lena)
    }

    /// lena ranks the next task of her queue, the banana first; returns the prompt's id.
    @discardableResult
    private func rankNext(_ app: TallyTestServer, project: Int, _ lena: Session) throws -> Int {
        let next = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lena.cookie])
        let prompt = try #require(next.json["prompt"] as? [String: Any], "\(next.body)")
        let promptID = try #require(prompt["id"] as? Int)
        let shown = prompt["candidates"] as? [[String: Any]] ?? []
        let candidates = shown.sorted { ($0["text"] as! String) == "a banana" && ($1["text"] as! String) != "a banana" }
        let entries = candidates.enumerated().map { #"{"candidateId": \#($1["id"] as! Int), "rank": \#($0 + 1), "rating": \#(7 - 2 * $0)}"# }.joined(separator: ",")
        let ranked = try call(app.port, "POST", "/api/prompts/\(promptID)/rankings", headers: writeHeaders(lena),
                              json: #"{"entries": [\#(entries)], "shownOrder": \#(shown.map { $0["id"] as! Int })}"#)
        #expect(ranked.status == 201, "\(ranked.body)")
        return promptID
    }

    private func enqueue(_ app: TallyTestServer, _ rita: Session, project: Int, _ body: String) throws -> Int {
        let response = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita), json: body)
        #expect(response.status == 201, "\(response.body)")
        return try #require(response.json["id"] as? Int)
    }

    private func job(_ app: TallyTestServer, _ rita: Session, _ id: Int) throws -> [String: Any] {
        let response = try call(app.port, "GET", "/api/jobs/\(id)", headers: ["Cookie": rita.cookie])
        #expect(response.status == 200, "\(response.body)")
        return response.json
    }

    private func worker(_ app: TallyTestServer, models: String, leaseSeconds: Double? = nil) throws -> Worker {
        var configuration = Worker.Configuration(modelsDirectory: models)
        configuration.threads = 1
        if let leaseSeconds { configuration.leaseSeconds = leaseSeconds }
        var logger = Logger(label: "test-worker")
        logger.logLevel = .critical
        return try Worker(database: app.database, configuration: configuration, logger: logger)
    }

    @Test func labelsTrainModelsWhoseAnswersComeBackAsRankingTasks() throws {
        let (app, project, base, rita, lena) = try setUp()
        let worker = try worker(app, models: TemporaryFiles.path("loop-models"))

        // Wrong requests are refused with what is wrong, and queue nothing.
        let refusals: [(String, String)] = [
            (#"{"kind": "sft", "baseModelId": \#(base), "parameters": {"learning-rat": 0.001}}"#, "parameter 'learning-rat': is not a parameter of a sft job"),
            (#"{"kind": "sft", "baseModelId": \#(base), "parameters": {"epochs": "three"}}"#, "parameter 'epochs': must be a whole number"),
            (#"{"kind": "rloo", "baseModelId": \#(base), "parameters": {"answers-per-prompt": 1}}"#, "parameter 'answers-per-prompt': must be from 2"),
            (#"{"kind": "rloo", "baseModelId": \#(base)}"#, "field 'rewardModelId': a rloo job needs the reward model"),
            (#"{"kind": "train", "baseModelId": \#(base)}"#, "field 'kind' must be one of"),
            (#"{"kind": "sft", "baseModelId": 999}"#, "field 'baseModelId': there is no model version 999"),
        ]
        for (body, message) in refusals {
            let response = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita), json: body)
            #expect(response.status == 400 && response.body.contains(message), "\(body): \(response.status) \(response.body)")
        }
        #expect(try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(lena), json: #"{"kind": "sft", "baseModelId": \#(base)}"#).status == 403)
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM jobs") } == 0)

        // SFT on the demonstrations, then a reward model on the rankings.
        let sft = try enqueue(app, rita, project: project, #"{"kind": "sft", "baseModelId": \#(base), "parameters": {"epochs": 2, "learning-rate": 0.001, "logging-steps": 1, "validation-fraction": 0, "sample-after": false}}"#)
        #expect(try worker.runNextJob())
        let sftJob = try job(app, rita, sft)
        #expect((sftJob["job"] as? [String: Any])?["status"] as? String == "succeeded", "\(sftJob)")
        let sftModel = try #require((sftJob["model"] as? [String: Any])?["id"] as? Int, "\(sftJob)")
        #expect((sftJob["model"] as? [String: Any])?["kind"] as? String == "sft")
        #expect((sftJob["log"] as? [[String: Any]] ?? []).contains { ($0["line"] as? String ?? "").contains("Snapshot: 4 demonstrations") }, "\(sftJob)")
        let sftMetrics = try call(app.port, "GET", "/api/jobs/\(sft)/metrics", headers: ["Cookie": rita.cookie])
        #expect(sftMetrics.body.contains(#""name":"loss""#), "\(sftMetrics.body)")
        // Jobs and models are the researchers' and admins': a labeler is refused, a stranger asked to sign in.
        let admin = try signIn(app.port, "ada")
        for (method, path) in [("GET", "/api/projects/\(project)/jobs"), ("GET", "/api/jobs/\(sft)"), ("GET", "/api/jobs/\(sft)/metrics"),
                               ("GET", "/api/jobs/\(sft)/events"), ("POST", "/api/jobs/\(sft)/pause"), ("GET", "/api/models/\(sftModel)"),
                               ("GET", "/api/models/\(sftModel)/files"), ("GET", "/api/models/\(sftModel)/files/config.json"), ("GET", "/api/candidates/1/lineage")] {
            #expect(try call(app.port, method, path).status == 401, "anonymous \(method) \(path)")
            #expect(try call(app.port, method, path, headers: writeHeaders(lena)).status == 403, "labeler \(method) \(path)")
            if method == "GET", !path.hasSuffix("/events") {
                let status = try call(app.port, method, path, headers: writeHeaders(admin)).status
                #expect(status == 200 || (path.hasPrefix("/api/candidates/1") && status == 404), "admin \(method) \(path): \(status)")
            }
        }
        // The dashboard's feed: the job's state, its metrics, and the end of a finished job.
        let events = try call(app.port, "GET", "/api/jobs/\(sft)/events", headers: ["Cookie": rita.cookie])
        #expect(events.status == 200 && events.header("Content-Type")?.hasPrefix("text/event-stream") == true)
        #expect(events.body.contains("event: progress\ndata: {") && events.body.contains("event: metrics\ndata: [") && events.body.contains("event: end\ndata: succeeded"), "\(events.body)")

        let reward = try enqueue(app, rita, project: project, #"{"kind": "reward", "baseModelId": \#(base), "parameters": {"learning-rate": 0.003, "epochs": 3, "validation-fraction": 0, "logging-steps": 1}}"#)
        #expect(try worker.runNextJob())
        let rewardJob = try job(app, rita, reward)
        let rewardModel = try #require((rewardJob["model"] as? [String: Any])?["id"] as? Int, "\(rewardJob)")
        #expect((rewardJob["model"] as? [String: Any])?["kind"] as? String == "reward")
        // A reward job queues no sampling job; an RLOO job against it, from the SFT model, does.
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM jobs WHERE status = 'queued'") } == 0)
        let rloo = try enqueue(app, rita, project: project, """
            {"kind": "rloo", "baseModelId": \(sftModel), "rewardModelId": \(rewardModel),
             "parameters": {"iterations": 2, "prompts-per-iteration": 2, "max-new-tokens": 6, "learning-rate": 0.001, "validation-fraction": 0.3}}
            """)
        #expect(try worker.runNextJob())
        let rlooJob = try job(app, rita, rloo)
        #expect((rlooJob["job"] as? [String: Any])?["status"] as? String == "succeeded", "\(rlooJob)")
        let policy = try #require((rlooJob["model"] as? [String: Any])?["id"] as? Int)
        let policyName = try #require((rlooJob["model"] as? [String: Any])?["name"] as? String)
        #expect(policyName == "fruit-loop-rloo-\(rloo)")
        let rlooMetrics = try call(app.port, "GET", "/api/jobs/\(rloo)/metrics", headers: ["Cookie": rita.cookie]).body
        #expect(rlooMetrics.contains(#""name":"reward""#) && rlooMetrics.contains(#""name":"kl""#), "\(rlooMetrics)")
        #expect(!(rlooJob["samples"] as? [[String: Any]] ?? []).isEmpty, "the held-out evaluation's answers are kept")

        // The loop: the new policy's answers fill the prompts waiting for rankings.
        let sampling = try #require(try app.database.read { try $0.queryScalarInt("SELECT id FROM jobs WHERE kind = 'sample' AND automatic = 1 AND base_model_id = ?", [policy]) })
        #expect(try worker.runNextJob())
        #expect((try job(app, rita, sampling)["job"] as? [String: Any])?["status"] as? String == "succeeded")
        let written = try app.database.read { try $0.query("SELECT id, prompt_id FROM candidates WHERE model_version_id = ?", [policy]) }
        let samplingDetail = try job(app, rita, sampling)
        #expect(written.count >= 2, "the policy wrote candidates for the waiting prompts: \(samplingDetail)")
        let next = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lena.cookie])
        let task = try #require(next.json["prompt"] as? [String: Any], "a new ranking task: \(next.body)")
        #expect((task["candidates"] as? [[String: Any]] ?? []).allSatisfy { $0["modelName"] as? String == policyName }, "\(task)")
        #expect((task["content"] as? String ?? "\(task)").contains("please"))

        // Human evaluation: the base and the RLOO policy answer the held-out prompts, lena
        // judges the blind pairs, and the leaderboard ranks the two with the reward model's
        // agreement beside it.
        let wrongEvaluation = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita),
                                       json: #"{"kind": "evaluation", "baseModelId": \#(policy), "parameters": {"answers-per-prompt": 2}}"#)
        #expect(wrongEvaluation.status == 400 && wrongEvaluation.body.contains("parameter 'answers-per-prompt': is not a parameter of a evaluation job"), "\(wrongEvaluation.body)")
        let baseAnswers = try enqueue(app, rita, project: project, #"{"kind": "evaluation", "baseModelId": \#(base), "parameters": {"max-new-tokens": 6, "seed": 1}}"#)
        #expect(try worker.runNextJob())
        let baseEvaluation = try job(app, rita, baseAnswers)
        #expect((baseEvaluation["job"] as? [String: Any])?["status"] as? String == "succeeded", "\(baseEvaluation)")
        #expect((baseEvaluation["log"] as? [[String: Any]] ?? []).contains { ($0["line"] as? String ?? "").hasPrefix("Made 0 pairs") }, "nothing to pair with yet: \(baseEvaluation)")
        let policyAnswers = try enqueue(app, rita, project: project, #"{"kind": "evaluation", "baseModelId": \#(policy), "parameters": {"max-new-tokens": 6, "seed": 2}}"#)
        #expect(try worker.runNextJob())
        let policyEvaluation = try job(app, rita, policyAnswers)
        #expect((policyEvaluation["log"] as? [[String: Any]] ?? []).contains { ($0["line"] as? String ?? "").hasPrefix("Made 2 pairs") }, "\(policyEvaluation)")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM evaluation_rewards WHERE reward_model_id = ?", [rewardModel]) } == 4,
                "the reward model scored the four paired answers")
        var judged: [String] = []
        for preference in ["left", "tie"] {
            let next = try call(app.port, "GET", "/api/projects/\(project)/next-evaluation", headers: ["Cookie": lena.cookie])
            let pair = try #require(next.json["pair"] as? [String: Any], "\(next.body)")
            #expect(next.json["remaining"] as? Int == 2 - judged.count)
            #expect(((pair["prompt"] as? [String: Any])?["prompt"] as? String ?? "").contains("yellow") && pair["left"] is String && pair["right"] is String, "\(pair)")
            #expect(!next.body.contains(policyName) && !next.body.contains("tiny-base") && !next.body.lowercased().contains("model"), "blind: \(next.body)")
            let pairID = try #require(pair["id"] as? Int)
            let wrong = try call(app.port, "POST", "/api/evaluation-pairs/\(pairID)/judgments", headers: writeHeaders(lena), json: #"{"preference": "middle"}"#)
            #expect(wrong.status == 400 && wrong.body.contains("field 'preference' must be left, right or tie"), "\(wrong.body)")
            #expect(try call(app.port, "POST", "/api/evaluation-pairs/\(pairID)/judgments", headers: writeHeaders(lena), json: #"{"preference": "\#(preference)", "secondsSpent": 4}"#).status == 201)
            #expect(try call(app.port, "POST", "/api/evaluation-pairs/\(pairID)/judgments", headers: writeHeaders(lena), json: #"{"preference": "right"}"#).status == 409)
            judged.append(preference)
        }
        let emptied = try call(app.port, "GET", "/api/projects/\(project)/next-evaluation", headers: ["Cookie": lena.cookie])
        #expect(emptied.json["pair"] == nil && emptied.json["remaining"] as? Int == 0, "\(emptied.body)")
        #expect(try call(app.port, "GET", "/api/projects/\(project)/leaderboard", headers: ["Cookie": lena.cookie]).status == 403)
        let board = try call(app.port, "GET", "/api/projects/\(project)/leaderboard", headers: ["Cookie": rita.cookie])
        let results = try #require(board.json["results"] as? [String: Any], "\(board.body)")
        #expect(results["verdicts"] as? Int == 2 && board.json["pairs"] as? Int == 2)
        let standings = results["leaderboard"] as? [[String: Any]] ?? []
        #expect(Set(standings.compactMap { $0["modelId"] as? Int }) == [base, policy], "\(board.body)")
        #expect(standings.allSatisfy { ($0["lower"] as? Double ?? .nan) <= ($0["rating"] as? Double ?? .nan) && ($0["rating"] as? Double ?? .nan) <= ($0["upper"] as? Double ?? .nan) })
        let matchup = try #require((results["matchups"] as? [[String: Any]])?.first)
        #expect((matchup["winsA"] as? Int ?? 0) + (matchup["winsB"] as? Int ?? 0) == 1 && matchup["ties"] as? Int == 1, "\(matchup)")
        let agreement = try #require((results["rewardModels"] as? [[String: Any]])?.first, "\(board.body)")
        #expect(agreement["rewardModelId"] as? Int == rewardModel && (agreement["all"] as? [String: Any])?["verdicts"] as? Int == 1 && agreement["heldOutLabelers"] == nil,
                "lena is a training labeler: \(agreement)")
        #expect(Set((board.json["models"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }) == [policyName, "tiny-base", "fruit-loop-reward-\(reward)"], "\(board.body)")

        // From an answer to the labels behind it: the RLOO job's prompts and its reward model's
        // rankings, the SFT job's demonstrations, back to the base.
        let candidate = try #require(written.first).int("id")
        let lineage = try call(app.port, "GET", "/api/candidates/\(candidate)/lineage", headers: ["Cookie": rita.cookie])
        #expect(lineage.status == 200, "\(lineage.body)")
        let ancestors = lineage.json["ancestors"] as? [[String: Any]] ?? []
        #expect(ancestors.map { ($0["model"] as? [String: Any])?["id"] as? Int } == [policy, sftModel, base])
        #expect((ancestors.first?["rewardModelRankingIds"] as? [Int])?.count == 4 && (ancestors.dropFirst().first?["demonstrationIds"] as? [Int])?.count == 4, "\(lineage.body)")
        #expect((lineage.json["allRankingIds"] as? [Int])?.count == 4 && (lineage.json["allDemonstrationIds"] as? [Int])?.count == 4)

        // Labels that arrive later are in no earlier snapshot.
        if let promptID = task["id"] as? Int {
            let candidates = (task["candidates"] as? [[String: Any]] ?? []).map { $0["id"] as! Int }
            let entries = candidates.enumerated().map { #"{"candidateId": \#($1), "rank": \#($0 + 1), "rating": \#(max(1, 7 - $0))}"# }.joined(separator: ",")
            #expect(try call(app.port, "POST", "/api/prompts/\(promptID)/rankings", headers: writeHeaders(lena), json: #"{"entries": [\#(entries)], "shownOrder": \#(candidates)}"#).status == 201)
        }
        let rewardLineage = try call(app.port, "GET", "/api/models/\(rewardModel)", headers: ["Cookie": rita.cookie]).json
        #expect(((rewardLineage["ancestors"] as? [[String: Any]])?.first?["rankingIds"] as? [Int])?.count == 4)
        #expect(try call(app.port, "GET", "/api/models", headers: ["Cookie": rita.cookie]).body.contains(policyName))

        // The version's Hugging Face folder, file by file; nothing outside it.
        let files = try call(app.port, "GET", "/api/models/\(policy)/files", headers: ["Cookie": rita.cookie])
        let names = ((try? JSONSerialization.jsonObject(with: Data(files.body.utf8))) as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(names.contains("config.json") && names.contains("model.safetensors") && names.contains("tally_training.json"), "\(files.body)")
        let config = try call(app.port, "GET", "/api/models/\(policy)/files/config.json", headers: ["Cookie": rita.cookie])
        #expect(config.status == 200 && config.body.contains("LlamaForCausalLM"), "\(config.body)")
        #expect(try call(app.port, "GET", "/api/models/\(policy)/files/..%2F..%2Ftally.sqlite", headers: ["Cookie": rita.cookie]).status == 404)
    }

    @Test func aKilledWorkerResumesFromItsCheckpointAndCancellationStopsMidRun() throws {
        let (app, project, base, rita, _) = try setUp(labeled: 4, waiting: 0)
        let models = TemporaryFiles.path("killed-models")
        let long = #"{"kind": "reward", "baseModelId": \#(base), "parameters": {"epochs": 500, "batch-size": 1, "learning-rate": 0.001, "validation-fraction": 0, "logging-steps": 10, "checkpoint-minutes": 0.002}}"#
        let id = try enqueue(app, rita, project: project, long)
        let arguments = ["worker", "--database", app.databasePath, "--models", models, "--job-lease-seconds", "1", "--worker-threads", "1", "--log-level", "error"]
        func startWorker(_ extra: [String] = []) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CommandLineTests.executable)
            process.arguments = arguments + extra
            process.currentDirectoryURL = URL(fileURLWithPath: CommandLineTests.packageRoot)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        func state(_ id: Int) throws -> (status: String, step: Int) {
            let stored = try job(app, rita, id)["job"] as? [String: Any] ?? [:]
            return (stored["status"] as? String ?? "", stored["step"] as? Int ?? 0)
        }
        let first = try startWorker()
        func checkpointed() -> Bool {
            ((try? job(app, rita, id))?["log"] as? [[String: Any]] ?? []).contains { ($0["line"] as? String ?? "").hasPrefix("Checkpoint saved") }
        }
        #expect(eventually(within: 60) { (try? state(id)).map { $0.status == "running" && $0.step > 200 } ?? false && checkpointed() },
                "the job runs past its first checkpoints")
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let killedAt = try state(id)
        #expect(killedAt.status == "running", "a killed worker leaves its job running until the lease runs out")
        Thread.sleep(forTimeInterval: 1.5)
        let second = try startWorker(["--once"])
        second.waitUntilExit()
        let detail = try job(app, rita, id)
        let finished = detail["job"] as? [String: Any] ?? [:]
        #expect(finished["status"] as? String == "succeeded" && finished["attempts"] as? Int == 2 && finished["step"] as? Int == 2000, "\(finished)")
        let log = (detail["log"] as? [[String: Any]] ?? []).compactMap { $0["line"] as? String }
        #expect(log.contains { $0.hasPrefix("Interrupted: its worker") } && log.contains { $0.hasPrefix("Resumed from the checkpoint at step") }, "\(log)")
        let resumedAt = log.first { $0.hasPrefix("Resumed from the checkpoint at step") }.flatMap { Int($0.split(separator: " ")[6]) } ?? 0
        #expect(resumedAt > 0 && resumedAt < 2000, "resumed from a checkpoint at step \(resumedAt), killed after step \(killedAt.step)")
        #expect(FileManager.default.fileExists(atPath: models + "/job-\(id)/config.json") && !FileManager.default.fileExists(atPath: models + "/job-\(id)/checkpoint"))

        // Cancelled while it runs: stopped after the current step, its folder removed.
        let cancelled = try enqueue(app, rita, project: project, long)
        let third = try startWorker()
        defer { kill(third.processIdentifier, SIGKILL); third.waitUntilExit() }
        #expect(eventually(within: 60) { (try? state(cancelled)).map { $0.status == "running" && $0.step > 5 } ?? false })
        #expect(try call(app.port, "POST", "/api/jobs/\(cancelled)/cancel", headers: writeHeaders(rita)).status == 200)
        #expect(eventually(within: 30) { (try? state(cancelled))?.status == "cancelled" })
        #expect(try state(cancelled).step < 2000)
        #expect(!FileManager.default.fileExists(atPath: models + "/job-\(cancelled)"))
        #expect(try call(app.port, "POST", "/api/jobs/\(cancelled)/resume", headers: writeHeaders(rita)).status == 409)
    }

    /// The worker inside the server: a running job paused from the API saves a checkpoint and
    /// waits; resumed, it goes on from that checkpoint to the end. (A short lease makes the
    /// worker read requests every 0.1 s, so that even a fast machine cannot end the job before
    /// the pause reaches it.)
    @Test func pausedJobsResumeFromTheirCheckpoint() throws {
        let (app, project, base, rita, _) = try setUp(labeled: 4, waiting: 0)
        let models = TemporaryFiles.path("paused-models")
        let worker = try worker(app, models: models, leaseSeconds: 0.4)
        worker.start()
        defer { worker.stop(timeout: 30) }
        let id = try enqueue(app, rita, project: project, #"{"kind": "reward", "baseModelId": \#(base), "parameters": {"epochs": 1000, "batch-size": 1, "learning-rate": 0.001, "validation-fraction": 0, "logging-steps": 10}}"#)
        func state() -> (status: String, step: Int) {
            let stored = (try? job(app, rita, id))?["job"] as? [String: Any] ?? [:]
            return (stored["status"] as? String ?? "", stored["step"] as? Int ?? 0)
        }
        func log() -> [String] {
            ((try? job(app, rita, id))?["log"] as? [[String: Any]] ?? []).compactMap { $0["line"] as? String }
        }
        #expect(eventually(within: 60) { state().status == "running" && state().step > 20 })
        #expect(try call(app.port, "POST", "/api/jobs/\(id)/pause", headers: writeHeaders(rita)).status == 200)
        #expect(eventually(within: 30) { state().status == "paused" }, "\(log())")
        let pausedAt = state().step
        #expect(pausedAt > 20 && FileManager.default.fileExists(atPath: models + "/job-\(id)/checkpoint/trainer_state.json"))
        #expect(try call(app.port, "POST", "/api/jobs/\(id)/pause", headers: writeHeaders(rita)).status == 409)
        #expect(try call(app.port, "POST", "/api/jobs/\(id)/resume", headers: writeHeaders(rita)).status == 200)
        #expect(eventually(within: 60) { log().contains { $0.hasPrefix("Resumed from the checkpoint at step ") && $0.hasSuffix(" of 4000.") } }, "\(log())")
        #expect(eventually(within: 120) { state().status == "succeeded" }, "\(log())")
        #expect(state().step == 4000)
    }

    /// The project retrains by itself: after N new rankings the worker repeats the last reward
    /// job a person started, then the last RLOO job against the new reward model; nothing more
    /// until N more rankings arrive.
    @Test func theRetrainingRuleRepeatsTheRewardJobThenThePolicyJob() throws {
        let (app, project, base, rita, lena) = try setUp(labeled: 4, waiting: 0)
        let worker = try worker(app, models: TemporaryFiles.path("retraining-models"))
        let wrong = try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(rita), json: #"{"retrainAfterRankings": -1}"#)
        #expect(wrong.status == 400 && wrong.body.contains("field 'retrainAfterRankings' must be from 0 (never) to 1000000"), "\(wrong.body)")
        let patched = try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(rita), json: #"{"retrainAfterRankings": 2, "queueOrder": "uncertainty"}"#)
        #expect(patched.status == 200 && patched.json["retrainAfterRankings"] as? Int == 2, "\(patched.body)")
        // Nothing to repeat yet: no person has trained a reward model.
        #expect(try !worker.runNextJob())

        // One prompt waits for a ranking, for the reward model to order the queue by.
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: writeHeaders(rita),
                         rawBody: #"{"prompt": "name a sour fruit.", "candidates": [{"text": "a lemon", "model": "m1"}, {"text": "a rock", "model": "m2"}]}"#).status == 200)
        let reward = try enqueue(app, rita, project: project, #"{"kind": "reward", "baseModelId": \#(base), "parameters": {"name": "first-reward", "epochs": 2, "learning-rate": 0.003, "validation-fraction": 0}}"#)
        #expect(try worker.runNextJob())
        let firstRewardJob = try job(app, rita, reward)
        let firstReward = try #require((firstRewardJob["model"] as? [String: Any])?["id"] as? Int)
        // Active selection: the new reward model scored what waits in the queue, and its margins order it.
        let waiting = try app.database.read { try QueueUncertainty().promptsToScore(projectID: project, in: $0) }
        let scoredCandidates = try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM candidate_scores WHERE model_version_id = ?", [firstReward]) }
        #expect(!waiting.isEmpty && scoredCandidates == waiting.reduce(0) { $0 + $1.candidates.count }, "\(scoredCandidates ?? -1) scores for \(waiting.count) prompts")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM prompt_uncertainty WHERE model_version_id = ?", [firstReward]) } == waiting.count)
        #expect(((firstRewardJob["log"] as? [[String: Any]]) ?? []).contains { ($0["line"] as? String)?.hasPrefix("Scored the") == true }, "\(firstRewardJob["log"] ?? "")")
        let rloo = try enqueue(app, rita, project: project, """
            {"kind": "rloo", "baseModelId": \(base), "rewardModelId": \(firstReward),
             "parameters": {"iterations": 1, "prompts-per-iteration": 2, "max-new-tokens": 4, "validation-fraction": 0, "sample-after": false}}
            """)
        #expect(try worker.runNextJob())
        #expect((try job(app, rita, rloo)["job"] as? [String: Any])?["status"] as? String == "succeeded")
        #expect(try !worker.runNextJob(), "the reward model's snapshot holds every ranking: nothing is due")

        // One new ranking is not enough; two are.
        let lines = (0..<2).map { #"{"prompt": "name a ripe fruit \#($0).", "candidates": [{"text": "a banana", "model": "m1"}, {"text": "a stone", "model": "m2"}]}"# }
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: writeHeaders(rita), rawBody: lines.joined(separator: "\n")).status == 200)
        try rankNext(app, project: project, lena)
        #expect(try !worker.runNextJob())
        try rankNext(app, project: project, lena)
        #expect(try worker.runNextJob())
        let automaticReward = try #require(try app.database.read { try $0.queryScalarInt("SELECT id FROM jobs WHERE kind = 'reward' AND automatic = 1") })
        let rewardDetail = try job(app, rita, automaticReward)
        let rewardLog = (rewardDetail["log"] as? [[String: Any]] ?? []).compactMap { $0["line"] as? String }
        #expect((rewardDetail["job"] as? [String: Any])?["status"] as? String == "succeeded", "\(rewardDetail)")
        #expect(rewardLog.contains { $0.hasPrefix("Queued by the project's retraining rule (every 2 rankings): 2 rankings since job \(reward)") }, "\(rewardLog)")
        #expect(rewardLog.contains { $0.hasPrefix("Snapshot: 6 rankings") }, "\(rewardLog)")
        let secondReward = try #require((rewardDetail["model"] as? [String: Any])?["id"] as? Int)
        #expect((rewardDetail["model"] as? [String: Any])?["name"] as? String == "fruit-loop-reward-\(automaticReward)", "the person's version name is not reused")

        // Then the policy against the new reward model, from the same base as the person's job.
        #expect(try worker.runNextJob())
        let policyJob = try #require(try app.database.read { try $0.queryOne("SELECT id, kind, base_model_id, reward_model_id, status FROM jobs WHERE automatic = 1 AND kind = 'rloo'") })
        #expect(try policyJob.string("status") == "succeeded" && policyJob.optionalInt("reward_model_id") == secondReward && policyJob.int("base_model_id") == base)
        #expect(try !worker.runNextJob(), "nothing more until two more rankings arrive")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM jobs WHERE automatic = 1") } == 2)
    }

    /// The reward-hacking watch: a bound the project sets is checked at every iteration of a
    /// policy job, raised once with its message, and pauses the job when the project says so.
    @Test func aCrossedBoundRaisesAnAlarmAndPausesThePolicyJob() throws {
        let (app, project, base, rita, _) = try setUp(labeled: 4, waiting: 0)
        let worker = try worker(app, models: TemporaryFiles.path("watch-models"))
        let wrong = try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(rita), json: #"{"alarmLengthRatio": 0.5}"#)
        #expect(wrong.status == 400 && wrong.body.contains("field 'alarmLengthRatio' must be 0 (off) or a multiple of the starting length above 1"), "\(wrong.body)")
        // A KL bound no moving policy stays under, and a pause on an alarm.
        let patched = try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(rita), json: #"{"alarmKlPerAnswer": 0.000001, "alarmPausesJob": true}"#)
        #expect(patched.status == 200 && patched.json["alarmPausesJob"] as? Bool == true, "\(patched.body)")
        let reward = try enqueue(app, rita, project: project, #"{"kind": "reward", "baseModelId": \#(base), "parameters": {"epochs": 2, "learning-rate": 0.003, "validation-fraction": 0}}"#)
        #expect(try worker.runNextJob())
        let rewardModel = try #require((try job(app, rita, reward)["model"] as? [String: Any])?["id"] as? Int)
        let rloo = try enqueue(app, rita, project: project, """
            {"kind": "rloo", "baseModelId": \(base), "rewardModelId": \(rewardModel),
             "parameters": {"iterations": 6, "prompts-per-iteration": 2, "max-new-tokens": 6, "learning-rate": 0.01, "validation-fraction": 0, "sample-after": false}}
            """)
        #expect(try worker.runNextJob())
        let paused = try job(app, rita, rloo)
        let status = (paused["job"] as? [String: Any])?["status"] as? String
        let alarms = try #require(paused["alarms"] as? [[String: Any]], "\(paused)")
        #expect(status == "paused", "the alarm paused the job: \(paused)")
        #expect(alarms.map { $0["kind"] as? String } == ["kl"])
        let alarmStep = try #require(alarms.first?["step"] as? Int)
        #expect(alarmStep < 6 && (alarms.first?["message"] as? String)?.contains("above the project's bound") == true)
        let log = (paused["log"] as? [[String: Any]] ?? []).compactMap { $0["line"] as? String }
        #expect(log.contains { $0.hasPrefix("Reward-hacking alarm: KL to the reference") && $0.hasSuffix("The project pauses the job on an alarm.") }, "\(log)")

        // Watching without pausing: resumed, the job finishes, and the KL alarm is not repeated.
        #expect(try call(app.port, "PATCH", "/api/projects/\(project)", headers: writeHeaders(rita), json: #"{"alarmPausesJob": false}"#).status == 200)
        #expect(try call(app.port, "POST", "/api/jobs/\(rloo)/resume", headers: writeHeaders(rita)).status == 200)
        #expect(try worker.runNextJob())
        let finished = try job(app, rita, rloo)
        #expect((finished["job"] as? [String: Any])?["status"] as? String == "succeeded", "\(finished)")
        #expect((finished["alarms"] as? [[String: Any]])?.count == 1)
    }

    /// The queue's order: a sampling job queued after a training job runs first (minutes that put
    /// tasks in front of labelers before hours of training).
    @Test func samplingJobsGoBeforeTrainingJobs() throws {
        let (app, project, base, rita, _) = try setUp(labeled: 4, waiting: 2)
        let worker = try worker(app, models: TemporaryFiles.path("order-models"))
        let reward = try enqueue(app, rita, project: project, #"{"kind": "reward", "baseModelId": \#(base), "parameters": {"validation-fraction": 0}}"#)
        let sample = try enqueue(app, rita, project: project, #"{"kind": "sample", "baseModelId": \#(base), "parameters": {"max-new-tokens": 4}}"#)
        #expect(try worker.runNextJob())
        #expect((try job(app, rita, sample)["job"] as? [String: Any])?["status"] as? String == "succeeded")
        #expect((try job(app, rita, reward)["job"] as? [String: Any])?["status"] as? String == "queued")
    }

    /// The disk budget: failed jobs' checkpoints go, oldest first, until the project's fit; a
    /// paused job's checkpoint stays even over budget (it resumes from it), and so does every
    /// model version's folder.
    @Test func failedJobsCheckpointsArePrunedToTheBudget() throws {
        let (app, project, base, rita, _) = try setUp(labeled: 4, waiting: 0)
        let models = TemporaryFiles.path("budget-models")
        let ids = try (0..<4).map { _ in try enqueue(app, rita, project: project, #"{"kind": "reward", "baseModelId": \#(base)}"#) }
        try app.database.write { database in
            for id in ids.prefix(2) { try database.execute("UPDATE jobs SET status = 'failed', error = 'a test' WHERE id = ?", [id]) }
            try database.execute("UPDATE jobs SET status = 'paused' WHERE id = ?", [ids[2]])
            try database.execute("UPDATE jobs SET status = 'succeeded' WHERE id = ?", [ids[3]])
        }
        for id in ids {
            let folder = models + "/job-\(id)/checkpoint"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data(count: 1000).write(to: URL(fileURLWithPath: folder + "/optimizer.safetensors"))
        }
        // The succeeded job's folder is a model version: its files are never a checkpoint to prune.
        try FileManager.default.removeItem(atPath: models + "/job-\(ids[3])/checkpoint")
        try Data(count: 5000).write(to: URL(fileURLWithPath: models + "/job-\(ids[3])/model.safetensors"))

        let (removed, overBudget) = try CheckpointPruner(modelsDirectory: models, budgetBytes: 1500).prune(in: app.database)
        #expect(removed == [CheckpointPruner.Pruned(jobID: ids[0], bytes: 1000), CheckpointPruner.Pruned(jobID: ids[1], bytes: 1000)])
        #expect(overBudget.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: models + "/job-\(ids[0])/checkpoint") && FileManager.default.fileExists(atPath: models + "/job-\(ids[2])/checkpoint"))
        #expect(FileManager.default.fileExists(atPath: models + "/job-\(ids[3])/model.safetensors"))
        let log = ((try job(app, rita, ids[0]))["log"] as? [[String: Any]] ?? []).compactMap { $0["line"] as? String }
        #expect(log.contains { $0.hasPrefix("Its checkpoint (0.00 GB) was pruned") }, "\(log)")
        // Under a smaller budget the paused job's checkpoint still stays, and is reported.
        let (none, over) = try CheckpointPruner(modelsDirectory: models, budgetBytes: 500).prune(in: app.database)
        #expect(none.isEmpty && over.count == 1 && over.first?.projectID == project && over.first?.bytes == 1000)
    }

    /// A reward model evaluated on the held-out rankings by a job: refused for a policy, failed
    /// with the reason when there is nothing held out, then its accuracy beside the length
    /// baseline as evaluation metrics.
    @Test func rewardModelsAreEvaluatedOnHeldOutRankings() throws {
        let (app, project, base, rita, _) = try setUp(labeled: 4, waiting: 0)
        let worker = try worker(app, models: TemporaryFiles.path("reward-evaluation-models"))
        let reward = try enqueue(app, rita, project: project, #"{"kind": "reward", "baseModelId": \#(base), "parameters": {"epochs": 3, "learning-rate": 0.003, "validation-fraction": 0}}"#)
        #expect(try worker.runNextJob())
        let rewardModel = try #require((try job(app, rita, reward)["model"] as? [String: Any])?["id"] as? Int)
        let wrong = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita), json: #"{"kind": "reward-evaluation", "baseModelId": \#(base)}"#)
        #expect(wrong.status == 400 && wrong.body.contains("a reward-evaluation job evaluates a reward model"), "\(wrong.body)")
        let empty = try enqueue(app, rita, project: project, #"{"kind": "reward-evaluation", "baseModelId": \#(rewardModel)}"#)
        #expect(try worker.runNextJob())
        let failed = (try job(app, rita, empty)["job"] as? [String: Any]) ?? [:]
        #expect(failed["status"] as? String == "failed" && (failed["error"] as? String ?? "").contains("no held-out rankings"), "\(failed)")
        // Two ranked prompts held out (as an import marking them test would).
        try app.database.write { try $0.execute("UPDATE prompts SET split = 'test' WHERE id IN (SELECT prompt_id FROM rankings ORDER BY id LIMIT 2)") }
        let evaluation = try enqueue(app, rita, project: project, #"{"kind": "reward-evaluation", "baseModelId": \#(rewardModel), "parameters": {"max-length": 64}}"#)
        #expect(try worker.runNextJob())
        let detail = try job(app, rita, evaluation)
        #expect((detail["job"] as? [String: Any])?["status"] as? String == "succeeded", "\(detail)")
        let log = (detail["log"] as? [[String: Any]] ?? []).compactMap { $0["line"] as? String }
        #expect(log.contains { $0.hasPrefix("Evaluating fruit-loop-reward-\(reward) on 2 held-out rankings") } && log.contains { $0.hasPrefix("Accuracy ") && $0.contains("on 6 pairs") }, "\(log)")
        let metrics = try call(app.port, "GET", "/api/jobs/\(evaluation)/metrics", headers: ["Cookie": rita.cookie]).body
        #expect(metrics.contains(#""name":"eval_accuracy""#) && metrics.contains(#""name":"eval_length_baseline_accuracy""#), "\(metrics)")
    }

    /// Best-of-n candidates: n answers sampled for each one kept, the reward's favourite kept (here
    /// a reward that prefers longer answers, so the favourite is known), duplicates still dropped;
    /// and the job through the worker, which needs a reward model.
    @Test func bestOfNKeepsTheRewardModelsFavourite() throws {
        let policy = try PretrainedModel.load(try TrainingCommandTests.tinyModelFolder())
        var sampling = CandidateSampling()
        (sampling.answersPerPrompt, sampling.maximumNewTokens) = (1, 8)
        let prompt = CandidateSampler.Prompt(id: 1, messages: [ChatTemplate.Message(role: "user", content: "name a fruit")], existingAnswers: [])
        let drawn = try PolicyAnswers(policy: policy, sampling: sampling).sample(Array(repeating: prompt.messages, count: 6), seed: 9).map(\.text)
        var sampler = CandidateSampler(policy: policy, sampling: sampling, rankingSize: 4)
        sampler.bestOf = 6
        sampler.rewards = { _, answers in answers.map { Float($0.unicodeScalars.count) } }
        let kept = try sampler.sample([prompt], seed: 9).map { $0.map(\.text) }
        #expect(kept == [[drawn.filter { !$0.isEmpty }.max { $0.unicodeScalars.count < $1.unicodeScalars.count }!]], "\(kept) of \(drawn)")

        let (app, project, base, rita, _) = try setUp(labeled: 4, waiting: 2)
        let worker = try worker(app, models: TemporaryFiles.path("best-of-models"))
        let noReward = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita), json: #"{"kind": "best-of-n", "baseModelId": \#(base)}"#)
        #expect(noReward.status == 400 && noReward.body.contains("a best-of-n job needs the reward model"), "\(noReward.body)")
        let reward = try enqueue(app, rita, project: project, #"{"kind": "reward", "baseModelId": \#(base), "parameters": {"validation-fraction": 0}}"#)
        #expect(try worker.runNextJob())
        let rewardModel = try #require((try job(app, rita, reward)["model"] as? [String: Any])?["id"] as? Int)
        let best = try enqueue(app, rita, project: project, #"{"kind": "best-of-n", "baseModelId": \#(base), "rewardModelId": \#(rewardModel), "parameters": {"n": 4, "answers-per-prompt": 1, "max-new-tokens": 6}}"#)
        #expect(try worker.runNextJob())
        let detail = try job(app, rita, best)
        let log = (detail["log"] as? [[String: Any]] ?? []).compactMap { $0["line"] as? String }
        #expect((detail["job"] as? [String: Any])?["status"] as? String == "succeeded" && log.contains { $0.contains("the reward model's favourite of 4") }, "\(detail)")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM candidates WHERE model_version_id = ?", [base]) } ?? 0 >= 1)
    }
}
