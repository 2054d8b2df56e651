import ArgumentParser
import Storage
import TallyServer

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load the demo project and demo accounts (safe to run again).",
        discussion: "The demo's ranking tasks and screening test come from real public data shipped in Demo/ (see Demo/PROVENANCE.md).")

    @OptionGroup var databaseOptions: DatabaseOptions

    @Option(help: ArgumentHelp("The folder of the demo data. (default: found beside Tally)", valueName: "path"))
    var demo: String?

    func run() throws {
        let logger = try databaseOptions.bootstrapLogging()
        let database = try databaseOptions.openMigratedDatabase(logger: logger, readerCount: 1)
        let folder = try ResourceLocator().locate("Demo", explicitPath: demo)
        let summary = try DemoLoader().load(into: database, demoDirectory: folder)
        print("Demo project \(summary.projectID): \(summary.imported.promptsCreated) new prompts, \(summary.imported.candidatesAdded) new candidates.")
        print("Demo accounts (password '\(DemoLoader.password)'): " + DemoLoader.accounts.map { "\($0.username) (\($0.role.rawValue))" }.joined(separator: ", "))
        if summary.screeningTestCreated {
            print("Registration is open: applicants register at /apply.html and take the demo screening test; admins review them at /applicants.html.")
        }
    }
}
