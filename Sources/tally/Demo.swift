import ArgumentParser
import Foundation
import Labeling
import Storage
import TallyServer

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load the demo project and demo accounts (safe to run again).",
        discussion: "The demo's ranking tasks and screening test come from real public data shipped in Demo/ (see Demo/PROVENANCE.md).")

    @OptionGroup var databaseOptions: DatabaseOptions

    @Option(help: ArgumentHelp("The folder of the demo data. (default: found beside Tally)", valueName: "path"))
    var demo: String?

    @Option(help: ArgumentHelp("A pretrained instruct model of the Llama family (a GGUF file, or a Hugging Face folder with config.json, safetensors and tokenizer.json) to register as the base policy; its answers to the first demo prompts become candidates.", valueName: "path"))
    var policy: String?

    @Option(help: "How many demo prompts the policy answers.")
    var policyPrompts = 12

    @Option(help: "The longest policy answer, in tokens.")
    var policyTokens = 96

    func validate() throws {
        guard (1...1000).contains(policyPrompts) else { throw ValidationError("--policy-prompts must be from 1 to 1000, not \(policyPrompts)") }
        guard (1...2048).contains(policyTokens) else { throw ValidationError("--policy-tokens must be from 1 to 2048, not \(policyTokens)") }
        if let policy, !FileManager.default.isReadableFile(atPath: policy) { throw ValidationError("--policy: cannot read \(policy)") }
    }

    func run() throws {
        let logger = try databaseOptions.bootstrapLogging()
        let database = try databaseOptions.openMigratedDatabase(logger: logger, readerCount: 1)
        let folder = try ResourceLocator().locate("Demo", explicitPath: demo)
        let summary = try DemoLoader().load(into: database, demoDirectory: folder)
        print("Demo project \(summary.projectID): \(summary.imported.promptsCreated) new prompts, \(summary.imported.candidatesAdded) new candidates.")
        print("Demo accounts (password '\(DemoLoader.password)'): " + DemoLoader.accounts.map { "\($0.username) (\($0.role.rawValue))" }.joined(separator: ", "))
        if let policy {
            let started = Date()
            let loaded = try DemoPolicy(path: policy, promptCount: policyPrompts, maximumNewTokens: policyTokens).load(into: database, projectID: summary.projectID)
            print("Base policy '\(loaded.model.name)' (\(loaded.model.parameterCount) parameters) registered; \(loaded.candidatesAdded) of its answers added as candidates in \(String(format: "%.1f", Date().timeIntervalSince(started))) s.")
            // Labelers can converse with the base policy at once (two samples per message); a
            // researcher's own choice of models is kept.
            let liveSettings = LiveConversationSettingsRepository()
            if try database.read({ try liveSettings.find(projectID: summary.projectID, in: $0) }) == nil {
                _ = try database.write { try liveSettings.save(LiveConversationSettingsChange(modelIds: [loaded.model.id]), projectID: summary.projectID, in: $0) }
                print("Live conversations: '\(loaded.model.name)' answers labelers' messages twice, at /chat.html.")
            }
        }
        if summary.screeningTestCreated {
            print("Registration is open: applicants register at /apply.html and take the demo screening test; admins review them at /applicants.html.")
        }
    }
}
