import ArgumentParser
import BackgroundTraining
import Foundation
import JSON
import Labeling
import Training
import TransformerCore

/// `tally export-job`: a training job handed to TRL or OpenRLHF (Docs/handoff.md).
struct ExportJob: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-job",
        abstract: "Hand a training job to TRL or OpenRLHF: its labels' snapshot as the engine's data, a configuration, launch scripts and a README, in a new folder.",
        discussion: "The job is queued as `tally serve` would queue it (its parameters checked by the same rules) and marked handed-off, so no worker runs it; `tally import-model FOLDER --snapshot JOB` registers what the engine made. TRL has no PPO command: PPO goes to OpenRLHF."
    )

    @OptionGroup var databaseOptions: DatabaseOptions

    @Option(help: ArgumentHelp("trl (1.16) or openrlhf (0.11).", valueName: "engine"))
    var engine: String

    @Option(help: ArgumentHelp("sft, reward, dpo, rloo, grpo or ppo.", valueName: "stage"))
    var stage: String

    @Option(help: ArgumentHelp("The project whose labels the job trains on.", valueName: "id"))
    var project: Int

    @Option(name: .customLong("base-model"), help: ArgumentHelp("The model version it starts from (a Hugging Face folder).", valueName: "id"))
    var baseModel: Int

    @Option(name: .customLong("reward-model"), help: ArgumentHelp("For rloo, grpo and ppo: the reward model version it optimizes against.", valueName: "id"))
    var rewardModel: Int?

    @Option(help: ArgumentHelp("The job's parameters as a JSON object, named as a job's are (Docs/jobs.md).", valueName: "json"))
    var parameters: String = "{}"

    @Option(help: ArgumentHelp("The folder to write; it must not exist yet.", valueName: "path"))
    var output: String

    func run() throws {
        let logger = try databaseOptions.bootstrapLogging()
        guard let engine = TrainingEngine(rawValue: engine) else { throw ValidationError("--engine must be trl or openrlhf, not '\(engine)'") }
        guard let kind = JobKind(rawValue: stage) else { throw ValidationError("--stage must be one of sft, reward, dpo, rloo, grpo, ppo, not '\(stage)'") }
        let given: JSONValue
        do { given = try JSONParser.parse(parameters) } catch { throw ValidationError("--parameters is not JSON: \(error)") }
        let handoff: EngineHandoff
        do { handoff = try EngineHandoff(engine: engine, stage: kind) } catch let error as JobParameterError { throw ValidationError("--\(error.parameter): \(error.message)") }
        let database = try databaseOptions.openMigratedDatabase(logger: logger, readerCount: 1)
        defer { database.close() }
        let summary: EngineHandoff.Summary
        do {
            summary = try handoff.write(projectID: project, baseModelID: baseModel, rewardModelID: rewardModel, parameters: given, createdBy: nil,
                                        to: output, database: database)
        } catch let error as JobParameterError {
            throw ValidationError(["stage", "output", "project", "base-model", "reward-model"].contains(error.parameter)
                                  ? "--\(error.parameter): \(error.message)" : "--parameters: \(error)")
        } catch let error as LabelingError {
            throw ValidationError(error.description)
        }
        print("Job \(summary.job.id) handed to \(engine.rawValue): \(summary.trainRecords) training records\(summary.testRecords > 0 ? ", \(summary.testRecords) held out" : "") in \(output)")
        print("Run \(output)/train.sh; then: tally import-model \(output)/output --kind \(kind == .reward ? "reward" : "policy") --snapshot \(summary.job.id)")
    }
}

/// `tally import-model`: what TRL, OpenRLHF or any trainer made, registered as a model version.
struct ImportModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-model",
        abstract: "Register a Hugging Face folder an engine made as a model version, with its lineage.",
        discussion: "With --snapshot, the handed-off job (tally export-job) it came from: the version is that job's, trained from its base model on its snapshot, and the job succeeds. The folder is loaded once to check it."
    )

    @OptionGroup var databaseOptions: DatabaseOptions

    @Argument(help: ArgumentHelp("The Hugging Face folder (config.json and safetensors weights).", valueName: "folder"))
    var folder: String

    @Option(help: ArgumentHelp("policy or reward.", valueName: "kind"))
    var kind: String

    @Option(help: ArgumentHelp("The model version it was trained from (default: the handed-off job's base model).", valueName: "id"))
    var parent: Int?

    @Option(help: ArgumentHelp("The handed-off job whose snapshot trained it.", valueName: "job"))
    var snapshot: Int?

    @Option(help: ArgumentHelp("The version's name (default: the project, stage and job; else the folder's name).", valueName: "name"))
    var name: String?

    func run() throws {
        let logger = try databaseOptions.bootstrapLogging()
        guard kind == "policy" || kind == "reward" else { throw ValidationError("--kind must be policy or reward, not '\(kind)'") }
        let absolute = URL(fileURLWithPath: folder).standardizedFileURL.path
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isFolder), isFolder.boolValue else {
            throw ValidationError("\(folder) is not a folder (a Hugging Face checkpoint folder is expected)")
        }
        let model: any LanguageModel
        do { model = kind == "reward" ? try RewardModel(contentsOf: absolute).trunk : try PretrainedModel.load(absolute).model } catch {
            throw ValidationError("\(folder) is not a \(kind == "reward" ? "reward model" : "model") Tally can load: \(error)")
        }
        let digest = try CheckpointDigest.of(absolute)
        let database = try databaseOptions.openMigratedDatabase(logger: logger, readerCount: 1)
        defer { database.close() }
        let version: ModelVersion
        do {
            version = try database.write { database in
                let job = try snapshot.flatMap { try JobRepository().find(id: $0, in: database) }
                let project = try job.flatMap { try ProjectRepository().find(id: $0.projectId, in: database) }
                let chosenName = name ?? job?.defaultVersionName(projectName: project?.name) ?? URL(fileURLWithPath: absolute).lastPathComponent
                var lineage: [(String, JSONValue)] = [("imported_from", .string(absolute))]
                if let job {
                    lineage += [("job", .integer(Int64(job.id))), ("stage", .string(job.kind.rawValue)), ("engine", job.engine.map(JSONValue.string) ?? .null),
                                ("parameters", job.parameters)]
                }
                return try ModelVersionRepository().registerImported(name: chosenName, kind: kind, parentID: parent ?? job?.baseModelId, jobID: snapshot,
                                                                     architecture: model is GPT2Model ? "gpt2" : "llama", checkpointPath: absolute,
                                                                     checkpointSha256: digest, parameterCount: model.parameterCount, lineage: .object(lineage), in: database)
            }
        } catch let error as LabelingError {
            throw ValidationError(error.description)
        }
        print("Model version \(version.id): \(version.name) (\(version.kind), \(version.parameterCount) parameters)"
              + (version.jobId.map { ", trained by job \($0)" } ?? "") + (version.parentId.map { " from version \($0)" } ?? ""))
    }
}
