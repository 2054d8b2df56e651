import ArgumentParser
import Foundation
import Storage

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring the database schema up to date, or show where it stands.")

    @OptionGroup var databaseOptions: DatabaseOptions

    @Flag(help: "Show each migration's state (applied, pending, changed, unknown) and change nothing.")
    var status = false

    func run() throws {
        _ = try databaseOptions.bootstrapLogging()
        let migrator = Migrator(migrations: try Migration.load(from: try databaseOptions.migrationsDirectory()))
        let database = try Database(path: databaseOptions.databasePath)
        if status {
            let states = try migrator.status(of: database)
            print("Database: \(databaseOptions.databasePath)")
            for state in states {
                let applied = state.appliedAt.map { " (applied \($0))" } ?? ""
                print(String(format: "  %04d  %-9@ %@%@", state.version, state.state.rawValue as NSString, state.name as NSString, applied as NSString))
            }
            let pending = states.filter { $0.state == .pending }.count
            print(pending == 0 ? "Up to date." : "\(pending) pending: run `tally migrate` to apply.")
            if states.contains(where: { $0.state == .changed || $0.state == .unknown }) { throw ExitCode(2) }
            return
        }
        let applied = try migrator.migrate(database)
        if applied.isEmpty {
            print("Up to date: nothing to apply to \(databaseOptions.databasePath).")
        } else {
            for migration in applied { print(String(format: "Applied %04d %@", migration.version, migration.name as NSString)) }
        }
    }
}
