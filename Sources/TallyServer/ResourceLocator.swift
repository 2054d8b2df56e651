import Foundation

/// Finds the `Public/` and `Migrations/` folders, which Tally reads from disk: from a flag,
/// then `TALLY_HOME`, then the working directory, then beside the executable (and the package
/// root above a `.build/<configuration>/` executable). When nothing fits, the error names every
/// path it tried.
public struct ResourceLocator: Sendable {
    public struct NotFound: Error, CustomStringConvertible {
        public let folder: String
        public let triedPaths: [String]
        public var description: String {
            "cannot find the \(folder) folder; tried:\n" + triedPaths.map { "  - \($0)" }.joined(separator: "\n")
                + "\nPass its path with a flag, or set TALLY_HOME to the folder that holds it."
        }
    }

    let environment: [String: String]
    let workingDirectory: String
    let executablePath: String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                workingDirectory: String = FileManager.default.currentDirectoryPath,
                executablePath: String = CommandLine.arguments.first ?? "") {
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.executablePath = executablePath
    }

    /// The path of folder `name` (`Public` or `Migrations`), `explicitPath` first when given.
    public func locate(_ name: String, explicitPath: String?) throws -> String {
        var candidates: [String] = []
        if let explicitPath {
            candidates.append(explicitPath)
        } else {
            if let home = environment["TALLY_HOME"], !home.isEmpty { candidates.append(home + "/" + name) }
            candidates.append(workingDirectory + "/" + name)
            let executable = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath().deletingLastPathComponent()
            candidates.append(executable.appendingPathComponent(name).path)
            // .build/release/tally → the package root two folders up from .build/<configuration>.
            candidates.append(executable.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(name).path)
            candidates.append(executable.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(name).path)
        }
        for candidate in candidates {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), isDirectory.boolValue {
                return URL(fileURLWithPath: candidate).standardizedFileURL.path
            }
        }
        throw NotFound(folder: name, triedPaths: candidates)
    }
}
