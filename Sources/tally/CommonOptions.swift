import ArgumentParser
import Foundation
import Logging
import Storage
import TallyServer

/// Options every command that opens the database shares.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The SQLite database file; created when missing. (env: TALLY_DATABASE; default: tally.sqlite)", valueName: "path"))
    var database: String?

    @Option(name: .long, help: ArgumentHelp("The folder of numbered SQL migrations. (env: TALLY_MIGRATIONS; default: found beside Tally)", valueName: "path"))
    var migrations: String?

    @Option(name: .long, help: ArgumentHelp("How much to log: trace, debug, info, notice, warning, error, critical. (env: TALLY_LOG_LEVEL; default: info)", valueName: "level"))
    var logLevel: String?

    var databasePath: String { setting(database, "TALLY_DATABASE") ?? "tally.sqlite" }

    func migrationsDirectory() throws -> String {
        try ResourceLocator().locate("Migrations", explicitPath: setting(migrations, "TALLY_MIGRATIONS"))
    }

    /// Configures logging for the whole process: the executable is the only place that does.
    func bootstrapLogging() throws -> Logger {
        let name = setting(logLevel, "TALLY_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: name.lowercased()) else {
            throw ValidationError("the log level '\(name)' is not one of: \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "tally")
        logger.logLevel = level
        return logger
    }

    /// Opens the database and brings its schema up to date.
    func openMigratedDatabase(logger: Logger, readerCount: Int = 4) throws -> DatabasePool {
        let pool = try DatabasePool(path: databasePath, readerCount: readerCount)
        let migrator = Migrator(migrations: try Migration.load(from: try migrationsDirectory()))
        let applied = try pool.withWriter { try migrator.migrate($0) }
        for migration in applied {
            logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
        }
        return pool
    }
}

/// A flag's value, else the environment variable's, else nil.
func setting(_ flag: String?, _ environmentVariable: String) -> String? {
    if let flag { return flag }
    if let value = ProcessInfo.processInfo.environment[environmentVariable], !value.isEmpty { return value }
    return nil
}
