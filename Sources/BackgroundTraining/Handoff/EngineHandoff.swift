import Foundation
import JSON
import Labeling
import Storage
import Training
import TransformerCore

/// The engines a training job can be handed to.
public enum TrainingEngine: String, Sendable, CaseIterable {
    case trl, openrlhf
}

/// A training job handed to TRL or OpenRLHF (`tally export-job`): the job is queued as any
/// other (its parameters checked by the same rules), marked handed-off so no worker takes it,
/// and its snapshot written out as the engine's data, configuration and launch scripts, with a
/// README and `tally-job.json`. `tally import-model` later registers what the engine made as the
/// job's model version. The folder is written whole or not at all.
public struct EngineHandoff: Sendable {
    public struct Summary: Sendable {
        public let job: Job
        public let trainRecords: Int
        public let testRecords: Int
        public let files: [String]
    }

    public let engine: TrainingEngine
    public let stage: JobKind

    public init(engine: TrainingEngine, stage: JobKind) throws {
        guard [.sft, .reward, .dpo, .rloo, .grpo, .ppo].contains(stage) else {
            throw JobParameterError("stage", "must be one of sft, reward, dpo, rloo, grpo, ppo (the training stages), not \(stage.rawValue)")
        }
        if engine == .trl, let refusal = TRLHandoff.refusal(for: stage) { throw JobParameterError("stage", refusal) }
        (self.engine, self.stage) = (engine, stage)
    }

    /// Queues, hands off and writes the job into `output` (a folder that must not exist yet).
    public func write(projectID: Int, baseModelID: Int, rewardModelID: Int?, parameters given: JSONValue, createdBy: Int?,
                      to output: String, database: DatabasePool) throws -> Summary {
        guard !FileManager.default.fileExists(atPath: output) else { throw JobParameterError("output", "\(output) exists already; name a new folder") }
        let parameters = try JobParameters.parse(given, kind: stage)
        let (job, base, reward) = try database.write { database -> (Job, ModelVersion, ModelVersion?) in
            let job = try JobRepository().enqueue(projectID: projectID, kind: stage, parameters: given, baseModelID: baseModelID, rewardModelID: rewardModelID,
                                                  createdBy: createdBy, in: database)
            let base = try ModelVersionRepository().find(id: baseModelID, in: database)!
            let reward = try rewardModelID.flatMap { try ModelVersionRepository().find(id: $0, in: database) }
            for version in [base] + (reward.map { [$0] } ?? []) {
                var isFolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: version.checkpointPath + "/config.json", isDirectory: &isFolder), !isFolder.boolValue else {
                    throw JobParameterError(version.id == baseModelID ? "base-model" : "reward-model",
                                            "model version \(version.id) ('\(version.name)') is not a Hugging Face folder (\(version.checkpointPath)): "
                                            + "\(engine.rawValue) reads Hugging Face folders; register one with tally model add --path FOLDER")
                }
            }
            _ = try JobRepository().handOff(jobID: job.id, engine: engine.rawValue, in: database)
            return (try JobRepository().find(id: job.id, in: database)!, base, reward)
        }
        let records = try database.read { try HandoffRecords.read(stage: stage, jobID: job.id, projectID: projectID, in: $0) }
        guard !records.train.isEmpty else {
            try? database.write { try JobRepository().finish(id: job.id, status: .failed, error: "the snapshot holds nothing to train on", in: $0) }
            throw JobParameterError("project", "project \(projectID) has no \(stage == .sft ? "demonstrations" : stage == .reward || stage == .dpo ? "untied rankings" : "prompts") to hand to \(engine.rawValue)")
        }
        var files = [HandoffFile(path: "data/train.jsonl", contents: records.train.map { $0 + "\n" }.joined())]
        if !records.test.isEmpty { files.append(HandoffFile(path: "data/test.jsonl", contents: records.test.map { $0 + "\n" }.joined())) }
        let engineFiles: [HandoffFile], install: String, version: String
        switch engine {
        case .trl:
            var trl = TRLHandoff(stage: stage, parameters: parameters, modelPath: base.checkpointPath, rewardModelPath: reward?.checkpointPath, hasTestSplit: !records.test.isEmpty)
            if stage == .reward {
                let model = try PretrainedModel.load(base.checkpointPath)
                let pad = try RewardModel.padToken(for: model)
                trl.padToken = model.tokenizer.specialTokens.first { $0.value == pad }?.key
            }
            (engineFiles, install, version) = (trl.files(), trl.install, "trl==\(TRLHandoff.pinnedVersion)")
        case .openrlhf:
            let openRLHF = OpenRLHFHandoff(stage: stage, parameters: parameters, modelPath: base.checkpointPath, rewardModelPath: reward?.checkpointPath,
                                           hasTestSplit: !records.test.isEmpty, trainCount: records.train.count)
            (engineFiles, install, version) = (openRLHF.files(), openRLHF.install, "openrlhf==\(OpenRLHFHandoff.pinnedVersion)")
        }
        files += engineFiles
        let manifest: JSONValue = .object([
            ("job", .integer(Int64(job.id))), ("project", .integer(Int64(projectID))), ("stage", .string(stage.rawValue)),
            ("engine", .string(engine.rawValue)), ("engine_version", .string(version)),
            ("base_model", .object([("id", .integer(Int64(base.id))), ("name", .string(base.name)), ("path", .string(base.checkpointPath))])),
            ("reward_model", reward.map { .object([("id", .integer(Int64($0.id))), ("name", .string($0.name)), ("path", .string($0.checkpointPath))]) } ?? .null),
            ("parameters", given), ("train_records", .integer(Int64(records.train.count))), ("test_records", .integer(Int64(records.test.count))),
        ])
        files.append(HandoffFile(path: "tally-job.json", contents: JSONWriter.string(manifest) + "\n"))
        files.append(HandoffFile(path: "README.md", contents: readme(job: job, base: base, reward: reward, records: records, install: install, launch: engineFiles.map(\.path))))
        do { try Self.writeWhole(files, to: output) } catch {
            try? database.write { try JobRepository().finish(id: job.id, status: .failed, error: "its folder could not be written: \(error)", in: $0) }
            throw error
        }
        return Summary(job: job, trainRecords: records.train.count, testRecords: records.test.count, files: files.map(\.path))
    }

    private func readme(job: Job, base: ModelVersion, reward: ModelVersion?, records: HandoffRecords, install: String, launch: [String]) -> String {
        let kind = stage == .reward ? "reward" : "policy"
        let dataForm = stage == .sft ? "`prompt` (messages) and `completion` (the demonstration as an assistant message)"
            : stage == .reward || stage == .dpo ? "`prompt` (messages), `chosen` and `rejected` (assistant messages): every untied pair of each ranking"
            : "`prompt` (messages)"
        return """
            # Tally job \(job.id): \(stage.rawValue) for \(engine == .trl ? "TRL" : "OpenRLHF")

            Written by `tally export-job` from project \(job.projectId)'s labels. The job's snapshot (job \(job.id)) is
            the exact set of labels in `data/`: \(records.train.count) training records\(records.test.isEmpty ? "" : " and \(records.test.count) held-out ones (`data/test.jsonl`)"),
            each with \(dataForm).

            Starts from model version \(base.id) (\(base.name)): `\(base.checkpointPath)`\(reward.map { "; reward model \($0.id) (\($0.name)): `\($0.checkpointPath)`" } ?? "").
            On another machine, copy those folders too and change their paths in \(engine == .trl ? "`config.yaml`" : "the launch scripts").

            ## Run

            ```sh
            \(install)
            \(launch.map { "./\($0)" }.joined(separator: "   # or\n"))
            ```

            Tally's hyperparameters are mapped onto \(engine == .trl ? "TRL" : "OpenRLHF")'s names (Tally's own are in `tally-job.json`);
            the engine's defaults hold for the rest. The trained model is written to `output/`.

            ## Back into Tally

            ```sh
            tally import-model output --kind \(kind) --snapshot \(job.id)
            ```

            registers it as a model version trained by job \(job.id) from version \(base.id), with the snapshot as its lineage;
            \(kind == "policy" ? "its answers then become candidates like any other version's." : "it then scores, checks labels and serves OpenRLHF like any reward model Tally trained.")

            """
    }

    /// Writes every file into a temporary folder beside `output`, then renames it into place.
    static func writeWhole(_ files: [HandoffFile], to output: String) throws {
        let manager = FileManager.default
        let target = URL(fileURLWithPath: output).standardizedFileURL
        let temporary = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).partial-\(UUID().uuidString.prefix(8))")
        do {
            for file in files {
                let url = temporary.appendingPathComponent(file.path)
                try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(file.contents.utf8).write(to: url)
                if file.isExecutable { try manager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path) }
            }
            try manager.moveItem(at: temporary, to: target)
        } catch {
            try? manager.removeItem(at: temporary)
            throw error
        }
    }
}
