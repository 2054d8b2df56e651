import ArgumentParser

@main
struct Tally: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally",
        abstract: "A self-hosted human-feedback labeling server that trains on what it collects.",
        discussion: """
            Every option can also come from the environment: TALLY_HOST, TALLY_PORT, TALLY_DATABASE,
            TALLY_PUBLIC, TALLY_MIGRATIONS, TALLY_TLS_CERTIFICATE, TALLY_TLS_KEY, TALLY_LOG_LEVEL.
            TALLY_HOME names the folder holding Public/ and Migrations/.
            """,
        subcommands: [Serve.self, WorkerCommand.self, Migrate.self, UserCommand.self, Backup.self, Export.self, Demo.self, ModelCommand.self, Train.self, Evaluate.self, Sample.self, Score.self, ExportJob.self, ImportModel.self],
        defaultSubcommand: nil
    )
}
