import ArgumentParser
import Storage

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the database to a new file, safely while Tally serves.",
        discussion: "Uses SQLite's online backup API: the copy is one consistent snapshot, and writers are not blocked. The target must not exist.")

    @OptionGroup var databaseOptions: DatabaseOptions

    @Argument(help: "The new file to write.")
    var path: String

    func run() throws {
        _ = try databaseOptions.bootstrapLogging()
        let source = try Database(path: databaseOptions.databasePath, readOnly: true)
        try source.backup(to: path)
        let check = try Database(path: path, readOnly: true).integrityCheck()
        guard check == ["ok"] else { throw ValidationError("the backup at \(path) failed its integrity check: \(check.joined(separator: "; "))") }
        print("Backed up \(databaseOptions.databasePath) to \(path) (integrity check: ok).")
    }
}
