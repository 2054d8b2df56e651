import Foundation
import TallyTestSupport

/// A path for a new database file in a fresh temporary folder.
func temporaryDatabasePath() throws -> String {
    let directory = TemporaryFiles.path("tally-storage")
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    return directory + "/test.sqlite"
}

/// A migrations folder holding `files` (name → SQL).
func makeMigrationsDirectory(_ files: [String: String]) throws -> String {
    let directory = TemporaryFiles.path("tally-migrations")
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for (name, sql) in files { try sql.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8) }
    return directory
}
