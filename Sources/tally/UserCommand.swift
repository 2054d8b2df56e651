import ArgumentParser
import Cryptography
import Foundation
import Labeling
import Storage

struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Manage accounts.",
        subcommands: [AddUser.self, ListUsers.self])
}

struct AddUser: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Create an account.",
        discussion: "Without --password (or TALLY_PASSWORD), a random password is made and printed once.")

    @OptionGroup var databaseOptions: DatabaseOptions

    @Argument(help: "The sign-in name: letters, digits, '.', '_' and '-'.")
    var username: String

    @Option(help: ArgumentHelp("admin, researcher or labeler.", valueName: "role"))
    var role: String

    @Option(help: "The name shown in the UI. (default: the username)")
    var displayName: String?

    @Option(help: ArgumentHelp("At least 8 characters, not a common password, not containing the username. (env: TALLY_PASSWORD)", valueName: "password"))
    var password: String?

    func run() throws {
        let logger = try databaseOptions.bootstrapLogging()
        guard let role = Role(rawValue: role) else {
            throw ValidationError("the role '\(role)' is not one of: \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let given = setting(password, "TALLY_PASSWORD")
        if let given, let problem = PasswordRules.problem(password: given, username: username) { throw ValidationError("the password \(problem)") }
        let chosenPassword = given ?? SecureRandom.token(byteCount: 12)
        let hash = PasswordHasher().hash(chosenPassword)
        let database = try databaseOptions.openMigratedDatabase(logger: logger, readerCount: 1)
        let user: User
        do {
            user = try database.write { database in
                let user = try UserRepository().create(username: username, displayName: displayName, role: role, passwordHash: hash, in: database)
                try AuditLog().record(action: "user.create", actorUserID: nil, subject: "user:\(user.id)",
                                      detail: "role=\(role.rawValue) via command line", in: database)
                return user
            }
        } catch let error as AccountError {
            throw ValidationError(error.description)
        }
        print("Created \(user.role.rawValue) '\(user.username)' (id \(user.id)).")
        if given == nil { print("Password: \(chosenPassword)") }
    }
}

struct ListUsers: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List accounts.")

    @OptionGroup var databaseOptions: DatabaseOptions

    func run() throws {
        let logger = try databaseOptions.bootstrapLogging()
        let database = try databaseOptions.openMigratedDatabase(logger: logger, readerCount: 1)
        for user in try database.read({ try UserRepository().all(in: $0) }) {
            print("\(user.id)\t\(user.username)\t\(user.role.rawValue)\t\(user.status.rawValue)\t\(user.labelerGroup.rawValue)")
        }
    }
}
