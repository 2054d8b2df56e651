import Cryptography
import Datasets
import Foundation
import JSON
import Labeling
import Storage

/// Loads the embedded demo: a project of ranking tasks built from real public data
/// (`Demo/self-instruct-ranking.jsonl`, see its PROVENANCE.md), one account per role, and a
/// screening test (`Demo/screening-test.json`) with registration opened on it, so a fresh
/// `make run` has work waiting and applicants can try the screening. Running it again changes
/// nothing.
public struct DemoLoader: Sendable {
    /// The demo accounts' password, printed at start-up. Demo accounts are for a local trial;
    /// a real deployment creates its own with `tally user add`.
    public static let password = "tally-demo"
    public static let accounts: [(username: String, role: Role)] = [
        ("demo-admin", .admin), ("demo-researcher", .researcher), ("demo-labeler", .labeler), ("demo-labeler-2", .labeler),
    ]
    public static let projectName = "Demo: rank Self-Instruct answers"
    public static let dataFile = "self-instruct-ranking.jsonl"
    public static let screeningTestFile = "screening-test.json"

    public struct Summary: Sendable {
        public let accountsCreated: Int
        public let projectID: Int
        public let imported: PromptImporter.Summary
        /// Whether this run created the screening test (and so opened registration on it).
        public let screeningTestCreated: Bool
    }

    let passwordHasher: PasswordHasher

    public init(passwordHasher: PasswordHasher = PasswordHasher()) {
        self.passwordHasher = passwordHasher
    }

    public func load(into database: DatabasePool, demoDirectory: String) throws -> Summary {
        let path = demoDirectory + "/" + Self.dataFile
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StorageError("cannot read the demo data \(path)")
        }
        let prompts = try PromptImporter().parse(Array(data), fileName: Self.dataFile)
        let testPath = demoDirectory + "/" + Self.screeningTestFile
        guard let testData = FileManager.default.contents(atPath: testPath) else { throw StorageError("cannot read the demo screening test \(testPath)") }
        let screeningTest: NewScreeningTest
        do {
            screeningTest = try JSONValueDecoder().decode(NewScreeningTest.self, from: Array(testData))
        } catch {
            throw StorageError("\(testPath): \(error)")
        }
        let users = UserRepository()
        let missing = try database.read { database in try Self.accounts.filter { try users.find(username: $0.username, in: database) == nil } }
        // Hash outside the transaction: 600,000 PBKDF2 rounds per password take a while.
        let hashes = missing.map { _ in passwordHasher.hash(Self.password) }
        return try database.write { database in
            for (account, hash) in zip(missing, hashes) {
                _ = try users.create(username: account.username, displayName: account.username.replacingOccurrences(of: "-", with: " ").capitalized,
                                     role: account.role, passwordHash: hash, in: database)
            }
            let projects = ProjectRepository()
            let project = try projects.all(in: database).first { $0.name == Self.projectName }
                ?? projects.create({
                    var project = NewProject(name: Self.projectName)
                    project.guidelines = """
                        Rate each answer from 1 (bad) to 7 (excellent) for how helpful, truthful and harmless it is, \
                        flag any problem you see, then rank the answers from best to worst. Ties are allowed when two \
                        answers are equally good. Prefer answers that follow the instruction exactly.
                        """
                    project.demonstrationGuidelines = """
                        Write the answer you would want a helpful assistant to give: follow the instruction exactly, \
                        say so when you do not know, and keep it as short as the task allows. You may start from a \
                        model's answer and correct it.
                        """
                    project.promptGuidelines = """
                        Write an instruction a real user might give an assistant (a question, a task, a request to \
                        rewrite or summarize), clear enough that two labelers would judge its answers alike.
                        """
                    // InstructGPT's labelers also wrote prompts; the demo asks for a few.
                    project.promptsWanted = 20
                    return project
                }(), createdBy: nil, in: database)
            let imported = try PromptImporter().store(prompts, projectID: project.id, in: database)
            let tests = ScreeningTestRepository()
            let testCreated = try tests.all(in: database).contains { $0.name == screeningTest.name } == false
            if testCreated {
                let test = try tests.create(screeningTest, createdBy: nil, in: database)
                // A local trial: anyone who can reach the server may apply and take the test.
                let admin = try users.find(username: "demo-admin", in: database)
                _ = try RegistrationRepository().setPolicy(mode: .open, screeningTestID: test.id, updatedBy: admin?.id, in: database)
            }
            return Summary(accountsCreated: missing.count, projectID: project.id, imported: imported, screeningTestCreated: testCreated)
        }
    }
}
