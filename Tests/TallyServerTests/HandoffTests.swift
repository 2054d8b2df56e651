import Foundation
import Logging
import TallyTestSupport
import Testing
@testable import BackgroundTraining
@testable import TallyServer

/// Training jobs handed to TRL and OpenRLHF (`tally export-job`) and what they make registered
/// back (`tally import-model`), through the real command line on a real database: the folders,
/// the job no worker takes, the refusals, and the version's lineage. With
/// `TALLY_INTEROP_PYTHON` set (make test-interop), TRL 1.16 itself reads each configuration,
/// trains a step on each dataset, and OpenRLHF 0.11.2's own option parsers read its scripts.
@Suite("Jobs handed to TRL and OpenRLHF", .serialized)
struct HandoffTests {
    typealias Session = (cookie: String, csrf: String)
    private func writeHeaders(_ session: Session) -> [String: String] { ["Cookie": session.cookie, "X-CSRF-Token": session.csrf] }

    /// A project with three ranked prompts (the banana first), their demonstrations, one held-out
    /// prompt, the tiny model as `tiny-base`, and a reward model the worker trained on them.
    private func setUp() throws -> (app: TallyTestServer, project: Int, base: Int, reward: Int, rita: Session) {
        let app = try TallyTestServer()
        let rita = try signIn(app.port, "rita"), lena = try signIn(app.port, "lena")
        let created = try call(app.port, "POST", "/api/projects", headers: writeHeaders(rita), json: #"{"name": "Handed off", "rankingSize": 3, "overlap": 1}"#)
        let project = try #require(created.json["id"] as? Int, "\(created.body)")
        let lines = (0..<3).map { #"{"prompt": "name a fruit \#($0).", "candidates": [{"text": "a banana", "model": "m1"}, {"text": "the cat sat on the mat", "model": "m2"}, {"text": "the sky is blue", "model": "m3"}]}"# }
            + [#"{"prompt": "which fruit is yellow?", "split": "test"}"#]
        #expect(try call(app.port, "POST", "/api/projects/\(project)/imports/prompts", headers: writeHeaders(rita), rawBody: lines.joined(separator: "\n")).status == 200)
        let added = try CommandLineTests.tally(["model", "add", "--database", app.databasePath, "--path", try TrainingCommandTests.tinyModelFolder(), "--name", "tiny-base"])
        #expect(added.status == 0, "\(added.errorOutput)")
        let base = try #require(try app.database.read { try $0.queryScalarInt("SELECT id FROM model_versions WHERE name = 'tiny-base'") })
        for _ in 0..<3 {
            let next = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lena.cookie])
            let prompt = try #require(next.json["prompt"] as? [String: Any], "\(next.body)")
            let promptID = try #require(prompt["id"] as? Int)
            let shown = prompt["candidates"] as? [[String: Any]] ?? []
            let ordered = shown.sorted { ($0["text"] as! String) == "a banana" && ($1["text"] as! String) != "a banana" }
            let entries = ordered.enumerated().map { #"{"candidateId": \#($1["id"] as! Int), "rank": \#($0 + 1), "rating": \#(7 - 2 * $0)}"# }.joined(separator: ",")
            #expect(try call(app.port, "POST", "/api/prompts/\(promptID)/rankings", headers: writeHeaders(lena),
                             json: #"{"entries": [\#(entries)], "shownOrder": \#(shown.map { $0["id"] as! Int })}"#).status == 201)
            #expect(try call(app.port, "POST", "/api/prompts/\(promptID)/demonstrations", headers: writeHeaders(lena), json: #"{"text": "a banana"}"#).status == 201)
        }
        var configuration = Worker.Configuration(modelsDirectory: TemporaryFiles.path("handoff-models"))
        configuration.threads = 1
        var logger = Logger(label: "test-worker")
        logger.logLevel = .critical
        let worker = try Worker(database: app.database, configuration: configuration, logger: logger)
        let queued = try call(app.port, "POST", "/api/projects/\(project)/jobs", headers: writeHeaders(rita), json: #"{"kind": "reward", "baseModelId": \#(base), "parameters": {"validation-fraction": 0, "check-labels": false}}"#)
        #expect(queued.status == 201, "\(queued.body)")
        #expect(try worker.runNextJob())
        let reward = try #require(try app.database.read { try $0.queryScalarInt("SELECT id FROM model_versions WHERE kind = 'reward'") })
        return (app, project, base, reward, rita)
    }

    private func exportJob(_ app: TallyTestServer, _ arguments: [String]) throws -> CommandLineTests.Result {
        try CommandLineTests.tally(["export-job", "--database", app.databasePath] + arguments)
    }

    private func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// Every stage for both engines (but PPO for TRL), each folder checked; the jobs handed off.
    private func exportAll(_ app: TallyTestServer, project: Int, base: Int, reward: Int) throws -> [(engine: String, stage: String, folder: String, job: Int)] {
        var exported: [(String, String, String, Int)] = []
        for engine in ["trl", "openrlhf"] {
            for stage in ["sft", "reward", "dpo", "rloo", "grpo", "ppo"] where !(engine == "trl" && stage == "ppo") {
                let folder = TemporaryFiles.path("handoff-\(engine)-\(stage)")
                let policy = ["rloo", "grpo", "ppo"].contains(stage)
                let parameters = policy ? #"{"iterations": 2, "prompts-per-iteration": 2, "answers-per-prompt": 2, "max-new-tokens": 8, "learning-rate": 0.0003}"#
                                        : #"{"learning-rate": 0.0003, "epochs": 2, "batch-size": 2, "max-length": 64}"#
                let result = try exportJob(app, ["--engine", engine, "--stage", stage, "--project", "\(project)", "--base-model", "\(base)",
                                                 "--parameters", parameters, "--output", folder] + (policy ? ["--reward-model", "\(reward)"] : []))
                #expect(result.status == 0, "\(engine) \(stage): \(result.errorOutput)")
                let job = try #require(result.output.split(separator: " ").dropFirst().first.flatMap { Int($0) }, "\(result.output)")
                exported.append((engine, stage, folder, job))
            }
        }
        return exported
    }

    @Test func handsJobsToTRLAndOpenRLHFAndImportsWhatTheyMake() throws {
        let (app, project, base, reward, rita) = try setUp()
        let exported = try exportAll(app, project: project, base: base, reward: reward)
        let basePath = try #require(try app.database.read { try $0.queryOne("SELECT checkpoint_path FROM model_versions WHERE id = ?", [base])?.string("checkpoint_path") })
        let rewardPath = try #require(try app.database.read { try $0.queryOne("SELECT checkpoint_path FROM model_versions WHERE id = ?", [reward])?.string("checkpoint_path") })
        for (engine, stage, folder, job) in exported {
            let train = read(folder + "/data/train.jsonl").split(separator: "\n")
            // Three demonstrations; three rankings of three answers, untied: nine pairs; four prompts, one held out.
            let expected = stage == "sft" ? 3 : stage == "reward" || stage == "dpo" ? 9 : 3
            #expect(train.count == expected, "\(engine) \(stage): \(train.count) records")
            let first = (try? JSONSerialization.jsonObject(with: Data(train.first!.utf8))) as? [String: Any] ?? [:]
            let keys = Set(first.keys)
            #expect(keys == (stage == "sft" ? ["prompt", "completion"] : stage == "reward" || stage == "dpo" ? ["prompt", "chosen", "rejected"] : ["prompt"]), "\(keys)")
            if stage == "reward" || stage == "dpo" { #expect(train.allSatisfy { $0.contains(#""rejected":[{"content":"the"#) }, "\(train)") }
            if ["rloo", "grpo", "ppo"].contains(stage) { #expect(read(folder + "/data/test.jsonl").contains("which fruit is yellow?"), "the held-out prompt") }
            let manifest = (try? JSONSerialization.jsonObject(with: Data(read(folder + "/tally-job.json").utf8))) as? [String: Any] ?? [:]
            #expect(manifest["job"] as? Int == job && manifest["engine"] as? String == engine && manifest["stage"] as? String == stage)
            #expect(read(folder + "/README.md").contains("tally import-model output --kind \(stage == "reward" ? "reward" : "policy") --snapshot \(job)"))
            #expect(FileManager.default.isExecutableFile(atPath: folder + "/train.sh"))
            if engine == "trl" {
                let config = read(folder + "/config.yaml")
                #expect(config.contains("model_name_or_path: \"\(basePath)\"") && config.contains("learning_rate: 0.0003"), "\(config)")
                if stage == "sft" { #expect(config.contains("num_train_epochs: 2") && config.contains("max_length: 64") && config.contains("completion_only_loss: true")) }
                if stage == "rloo" { #expect(config.contains("reward_model_name_or_path: \"\(rewardPath)\"") && config.contains("num_generations: 2") && config.contains("max_steps: 2")) }
                #expect(read(folder + "/train.sh").contains("trl \(stage) \\\n  --config config.yaml"), "\(read(folder + "/train.sh"))")
            } else {
                let script = read(folder + "/train.sh")
                let module = ["sft": "train_sft", "reward": "train_rm", "dpo": "train_dpo"][stage] ?? "train_ppo_ray"
                #expect(script.contains("openrlhf.cli.\(module)") && script.contains("--data.apply_chat_template"), "\(script)")
                if stage == "ppo" { #expect(script.contains("--algo.advantage.estimator gae") && script.contains("--critic.model_name_or_path \(rewardPath)"), "\(script)") }
                if stage == "rloo" { #expect(script.contains("--algo.advantage.estimator rloo") && script.contains("--rollout.n_samples_per_prompt 2")) }
                if stage == "dpo" { #expect(script.contains("--adam.lr 0.0003") && script.contains("--train.max_epochs 2")) }
            }
        }
        // Handed off: listed as such, and no worker takes them.
        let jobs = try call(app.port, "GET", "/api/projects/\(project)/jobs", headers: ["Cookie": rita.cookie]).body
        #expect(jobs.components(separatedBy: #""status":"handed-off""#).count - 1 == exported.count, "\(jobs.prefix(400))")
        var configuration = Worker.Configuration(modelsDirectory: TemporaryFiles.path("handoff-models-2"))
        configuration.threads = 1
        var logger = Logger(label: "test-worker")
        logger.logLevel = .critical
        #expect(try Worker(database: app.database, configuration: configuration, logger: logger).runNextJob() == false)

        // What the engine made comes back as the job's version: here the base folder stands in for it.
        let sftJob = exported.first { $0.engine == "trl" && $0.stage == "sft" }!.job
        let wrongKind = try CommandLineTests.tally(["import-model", rewardPath, "--database", app.databasePath, "--kind", "reward", "--snapshot", "\(sftJob)"])
        #expect(wrongKind.status != 0 && wrongKind.errorOutput.contains("job \(sftJob) is a sft job, which makes a sft model, not a reward model"), "\(wrongKind.errorOutput)")
        let imported = try CommandLineTests.tally(["import-model", basePath, "--database", app.databasePath, "--kind", "policy", "--snapshot", "\(sftJob)"])
        #expect(imported.status == 0 && imported.output.contains("handed-off-sft-\(sftJob) (sft,") && imported.output.contains("trained by job \(sftJob) from version \(base)"),
                "\(imported.output) \(imported.errorOutput)")
        let detail = try call(app.port, "GET", "/api/jobs/\(sftJob)", headers: ["Cookie": rita.cookie]).json
        #expect((detail["job"] as? [String: Any])?["status"] as? String == "succeeded" && (detail["model"] as? [String: Any])?["parentId"] as? Int == base, "\(detail)")
        let version = try #require((detail["model"] as? [String: Any])?["id"] as? Int)
        let lineage = try call(app.port, "GET", "/api/models/\(version)", headers: ["Cookie": rita.cookie])
        #expect(lineage.status == 200 && lineage.body.contains("\"engine\":\"trl\"") && lineage.body.contains(#""allDemonstrationIds":[1,2,3]"#), "\(lineage.body.prefix(1500))")
        let again = try CommandLineTests.tally(["import-model", basePath, "--database", app.databasePath, "--kind", "policy", "--snapshot", "\(sftJob)", "--name", "again"])
        #expect(again.status != 0 && again.errorOutput.contains("job \(sftJob) is succeeded, not handed off"), "\(again.errorOutput)")
    }

    @Test func refusesWhatCannotBeHandedOff() throws {
        let (app, project, base, _, _) = try setUp()
        let folder = TemporaryFiles.path("handoff-refused")
        let common = ["--project", "\(project)", "--base-model", "\(base)", "--output", folder]
        let refusals: [([String], String)] = [
            (["--engine", "trl", "--stage", "ppo"] + common, "TRL has no ppo command"),
            (["--engine", "deepspeed", "--stage", "sft"] + common, "--engine must be trl or openrlhf"),
            (["--engine", "trl", "--stage", "sample"] + common, "--stage: must be one of sft, reward, dpo, rloo, grpo, ppo"),
            (["--engine", "trl", "--stage", "sft", "--parameters", #"{"learning-rat": 1}"#] + common, "parameter 'learning-rat'"),
            (["--engine", "trl", "--stage", "rloo"] + common, "needs the reward model"),
        ]
        for (arguments, message) in refusals {
            let result = try exportJob(app, arguments)
            #expect(result.status != 0 && result.errorOutput.contains(message), "\(arguments): \(result.errorOutput)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder), "nothing written")
        #expect(try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM jobs WHERE status = 'handed-off'") } == 0, "nothing handed off")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let exists = try exportJob(app, ["--engine", "trl", "--stage", "sft"] + common)
        #expect(exists.status != 0 && exists.errorOutput.contains("exists already"), "\(exists.errorOutput)")
    }

    /// TRL 1.16 and OpenRLHF 0.11.2 themselves read what Tally wrote (make test-interop): the
    /// handed-off folders, and the dataset folders of `tally export`; what TRL trained comes
    /// back into Tally, which samples from the policies and scores with the reward model.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TALLY_INTEROP_PYTHON"] != nil))
    func theEnginesReadTheFoldersAsTheyAre() throws {
        let (app, project, base, reward, _) = try setUp()
        let exported = try exportAll(app, project: project, base: base, reward: reward)
        var datasets: [String] = []
        for format in ["comparisons", "sft-prompt-completion", "sft-messages"] {
            let folder = TemporaryFiles.path("dataset-\(format)")
            let written = try CommandLineTests.tally(["export", "--database", app.databasePath, "--project", "\(project)", "--format", format, "--output", folder])
            #expect(written.status == 0, "\(written.errorOutput)")
            datasets.append("dataset:\(format):\(folder)")
        }
        let basePath = try #require(try app.database.read { try $0.queryOne("SELECT checkpoint_path FROM model_versions WHERE id = ?", [base])?.string("checkpoint_path") })
        let environment = ProcessInfo.processInfo.environment
        let script = CommandLineTests.packageRoot + "/Tests/Interop/check_handoff.py"
        let result = try run(environment["TALLY_INTEROP_PYTHON"]!, [script, "--openrlhf", environment["TALLY_OPENRLHF_SOURCE"] ?? "", "--model", basePath]
                             + exported.map { "\($0.engine):\($0.stage):\($0.folder)" } + datasets)
        #expect(result.status == 0, "\(result.output)")
        print(result.output)
        for (engine, stage, folder, job) in exported where engine == "trl" {
            let kind = stage == "reward" ? "reward" : "policy"
            let imported = try CommandLineTests.tally(["import-model", folder + "/output", "--database", app.databasePath, "--kind", kind, "--snapshot", "\(job)"])
            #expect(imported.status == 0, "\(stage): \(imported.output) \(imported.errorOutput)")
            if kind == "reward" {
                let scored = try CommandLineTests.tally(["score", "--model", folder + "/output", "--prompt", "name a fruit", "--response", "a banana"])
                #expect(scored.status == 0 && Double(scored.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").last ?? "") != nil,
                        "\(scored.output) \(scored.errorOutput)")
            } else {
                let sampled = try CommandLineTests.tally(["sample", "--model", folder + "/output", "--prompt", "name a fruit", "--max-tokens", "4", "--seed", "1"])
                #expect(sampled.status == 0, "\(stage): \(sampled.output) \(sampled.errorOutput)")
            }
        }
        let succeeded = try app.database.read { try $0.queryScalarInt("SELECT count(*) FROM jobs WHERE engine = 'trl' AND status = 'succeeded' AND result_model_id IS NOT NULL") }
        #expect(succeeded == 5, "every TRL job ends with its imported version")
    }
}
