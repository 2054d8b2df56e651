import ArgumentParser
import BackgroundTraining
import Foundation
import JSON
import Labeling
import Training
import TransformerCore

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Register pretrained models that training jobs start from, and list the model versions.",
        subcommands: [AddModel.self, ListModels.self]
    )
}

struct AddModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Register a pretrained policy (a GGUF file or a Hugging Face folder) or a reward model folder as a model version.",
        discussion: "The model is loaded once to check it and count its parameters; its SHA-256 is recorded, and registering the same name with other weights is refused."
    )

    @OptionGroup var databaseOptions: DatabaseOptions

    @Option(name: .long, help: ArgumentHelp("The model: a GGUF file, or a Hugging Face folder of the Llama family or GPT-2.", valueName: "path"))
    var path: String

    @Option(name: .long, help: ArgumentHelp("The version's name (default: the file or folder name).", valueName: "name"))
    var name: String?

    @Flag(name: .long, help: "The folder is a reward model (a sequence-classification checkpoint), not a policy.")
    var reward = false

    func run() throws {
        let logger = try databaseOptions.bootstrapLogging()
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: absolute) else { throw ValidationError("--path: \(path) does not exist") }
        let model: any LanguageModel
        do { model = reward ? try RewardModel(contentsOf: absolute).trunk : try PretrainedModel.load(absolute).model } catch {
            throw ValidationError("--path: \(path) is not a \(reward ? "reward model" : "model") Tally can load: \(error)")
        }
        let versionName = name ?? URL(fileURLWithPath: absolute).deletingPathExtension().lastPathComponent
        let architecture = model is GPT2Model ? "gpt2" : "llama"
        let digest = try CheckpointDigest.of(absolute)
        let database = try databaseOptions.openMigratedDatabase(logger: logger, readerCount: 1)
        defer { database.close() }
        let version = try database.write { database in
            try ModelVersionRepository().registerBase(name: versionName, kind: reward ? "reward" : "policy", architecture: architecture, checkpointPath: absolute,
                                                      checkpointSha256: digest, parameterCount: model.parameterCount,
                                                      lineage: .object([("file", .string(URL(fileURLWithPath: absolute).lastPathComponent)), ("registered_from", .string(absolute))]),
                                                      in: database)
        }
        print("Model version \(version.id): \(version.name) (\(version.kind), \(version.parameterCount) parameters)")
    }
}

struct ListModels: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the model versions: id, name, kind, parent, path.")

    @OptionGroup var databaseOptions: DatabaseOptions

    func run() throws {
        let logger = try databaseOptions.bootstrapLogging()
        let database = try databaseOptions.openMigratedDatabase(logger: logger, readerCount: 1)
        defer { database.close() }
        for version in try database.read({ try ModelVersionRepository().all(in: $0) }) {
            print("\(version.id)\t\(version.name)\t\(version.kind)\t\(version.parentId.map(String.init) ?? "-")\t\(version.checkpointPath)")
        }
    }
}
