import Cryptography
import Foundation
import Glibc
import Labeling
import Storage
import Testing
@testable import TallyServer

/// A submission the server acknowledged must survive the server being killed outright.
@Suite("Durability of submissions", .serialized)
struct DurabilityTests {
    @Test func everyAcknowledgedRankingSurvivesSIGKILL() throws {
        let databasePath = try CommandLineTests.temporaryDatabase()
        // A database with the demo's 60 prompts, overlap 8, and 8 labelers with API tokens.
        let migrate = try CommandLineTests.tally(["demo", "--database", databasePath, "--log-level", "warning"])
        try #require(migrate.status == 0, "\(migrate.errorOutput)")
        var tokens: [String] = []
        do {
            let pool = try DatabasePool(path: databasePath, readerCount: 1)
            try pool.write { database in
                try database.execute("UPDATE projects SET overlap = 8, ratings_required = 0")
                for index in 0..<8 {
                    let user = try UserRepository().create(username: "worker\(index)", role: .labeler, passwordHash: "unused", in: database)
                    let token = "tally_test_\(index)_" + SecureRandom.token()
                    _ = try SessionRepository().createAPIToken(userID: user.id, name: "load", tokenHash: SHA256.hexDigest(token), in: database)
                    tokens.append(token)
                }
            }
            pool.close()
        }
        let prompts = try DatabasePool(path: databasePath, readerCount: 1).read { database in
            try database.query("SELECT p.id, group_concat(c.id) AS candidates FROM prompts p JOIN candidates c ON c.prompt_id = p.id GROUP BY p.id ORDER BY p.id")
                .map { (try $0.int("id"), try $0.string("candidates").split(separator: ",").map { Int($0)! }) }
        }

        let (server, port) = try CommandLineTests.startServing(database: databasePath, logLevel: "error")
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }

        let acknowledged = Locked<[Int]>([])
        let stop = Locked<Bool>(false)
        let workers = DispatchGroup()
        for token in tokens {
            DispatchQueue.global().async(group: workers) {
                for (promptID, candidates) in prompts where !stop.value {
                    let entries = candidates.enumerated().map { #"{"candidateId": \#($1), "rank": \#($0 + 1)}"# }.joined(separator: ",")
                    guard let response = try? call(port, "POST", "/api/prompts/\(promptID)/rankings", headers: ["Authorization": "Bearer \(token)"],
                                                    json: #"{"entries": [\#(entries)], "shownOrder": \#(candidates)}"#) else { return }
                    if response.status == 201, let id = response.json["id"] as? Int { acknowledged.append(id) }
                }
            }
        }
        // Kill the server in the middle of the load.
        let deadline = Date().addingTimeInterval(10)
        while acknowledged.value.count < 100 && Date() < deadline { usleep(5_000) }
        kill(server.processIdentifier, SIGKILL)
        stop.set(true)
        workers.wait()
        server.waitUntilExit()

        let ids = acknowledged.value
        #expect(ids.count >= 100, "only \(ids.count) submissions were acknowledged before the kill")
        let database = try Database(path: databasePath)
        #expect(try database.integrityCheck() == ["ok"])
        let stored = Set(try database.query("SELECT id FROM rankings").compactMap { $0[0].integer.map(Int.init) })
        let lost = ids.filter { !stored.contains($0) }
        #expect(lost.isEmpty, "acknowledged but lost: \(lost.prefix(10))")
        // Each stored ranking is whole: all four entries or none.
        #expect(try database.queryScalarInt("SELECT count(*) FROM rankings r WHERE (SELECT count(*) FROM ranking_entries e WHERE e.ranking_id = r.id) != 4") == 0)
    }

    /// The same for the other writes labelers and researchers make: demonstrations from six
    /// labelers and imports of 20 prompts from a researcher's script, killed in the middle. Every
    /// acknowledged demonstration is stored with its text; every acknowledged import is stored
    /// whole; and no import is stored in part, acknowledged or not (imports are all or nothing).
    @Test func everyAcknowledgedDemonstrationAndImportSurvivesSIGKILL() throws {
        let databasePath = try CommandLineTests.temporaryDatabase()
        let demo = try CommandLineTests.tally(["demo", "--database", databasePath, "--log-level", "warning"])
        try #require(demo.status == 0, "\(demo.errorOutput)")
        var labelerTokens: [String] = []
        let researcherToken = "tally_test_researcher_" + SecureRandom.token()
        let (project, prompts): (Int, [Int]) = try {
            let pool = try DatabasePool(path: databasePath, readerCount: 1)
            defer { pool.close() }
            try pool.write { database in
                for index in 0..<6 {
                    let user = try UserRepository().create(username: "writer\(index)", role: .labeler, passwordHash: "unused", in: database)
                    let token = "tally_test_\(index)_" + SecureRandom.token()
                    _ = try SessionRepository().createAPIToken(userID: user.id, name: "load", tokenHash: SHA256.hexDigest(token), in: database)
                    labelerTokens.append(token)
                }
                let researcher = try UserRepository().create(username: "importer", role: .researcher, passwordHash: "unused", in: database)
                _ = try SessionRepository().createAPIToken(userID: researcher.id, name: "import script", tokenHash: SHA256.hexDigest(researcherToken), in: database)
            }
            return try pool.read { database in
                let project = try database.queryScalarInt("SELECT min(id) FROM projects") ?? 0
                return (project, try database.query("SELECT id FROM prompts WHERE project_id = \(project) ORDER BY id").map { try $0.int("id") })
            }
        }()

        let (server, port) = try CommandLineTests.startServing(database: databasePath, logLevel: "error")
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        let demonstrations = Locked<[(id: Int, text: String)]>([])
        let imports = Locked<[Int]>([])
        let stop = Locked<Bool>(false)
        let workers = DispatchGroup()
        for (worker, token) in labelerTokens.enumerated() {
            DispatchQueue.global().async(group: workers) {
                for prompt in prompts where !stop.value {
                    let text = "Demonstration by writer \(worker) for prompt \(prompt): " + String(repeating: "careful words ", count: 40)
                    guard let response = try? call(port, "POST", "/api/prompts/\(prompt)/demonstrations", headers: ["Authorization": "Bearer \(token)"],
                                                    json: #"{"text": "\#(text)", "secondsSpent": 60}"#) else { return }
                    if response.status == 201, let id = response.json["id"] as? Int { demonstrations.append((id, text)) }
                }
            }
        }
        DispatchQueue.global().async(group: workers) {
            var batch = 0
            while !stop.value {
                let lines = (0..<20).map { #"{"prompt": "Import \#(batch) prompt \#($0)", "candidates": [{"text": "a", "model": "m"}, {"text": "b", "model": "n"}]}"# }
                guard let response = try? call(port, "POST", "/api/projects/\(project)/imports/prompts?file=batch\(batch).jsonl",
                                                headers: ["Authorization": "Bearer \(researcherToken)", "Content-Type": "application/jsonl"],
                                                rawBody: lines.joined(separator: "\n")) else { return }
                if (200..<300).contains(response.status) { imports.append(batch) }
                batch += 1
            }
        }
        let deadline = Date().addingTimeInterval(20)
        while (demonstrations.value.count < 60 || imports.value.count < 3) && Date() < deadline { usleep(5_000) }
        kill(server.processIdentifier, SIGKILL)
        stop.set(true)
        workers.wait()
        server.waitUntilExit()

        let acknowledged = demonstrations.value
        #expect(acknowledged.count >= 60 && imports.value.count >= 3, "only \(acknowledged.count) demonstrations and \(imports.value.count) imports were acknowledged before the kill")
        let database = try Database(path: databasePath)
        #expect(try database.integrityCheck() == ["ok"])
        var stored: [Int: String] = [:]
        for row in try database.query("SELECT id, text FROM demonstrations") { stored[try row.int("id")] = try row.string("text") }
        let lost = acknowledged.filter { stored[$0.id] != $0.text }
        #expect(lost.isEmpty, "acknowledged but lost or changed: \(lost.prefix(5).map(\.id))")
        var promptsPerBatch: [Int: Int] = [:]
        for row in try database.query("SELECT content FROM prompts WHERE kind = 'text' AND content LIKE 'Import % prompt %'") {
            let words = try row.string("content").split(separator: " ")
            promptsPerBatch[Int(words[1])!, default: 0] += 1
        }
        #expect(imports.value.allSatisfy { promptsPerBatch[$0] == 20 }, "an acknowledged import is not stored whole: \(promptsPerBatch)")
        #expect(promptsPerBatch.values.allSatisfy { $0 == 20 }, "an import is stored in part: \(promptsPerBatch)")
    }
}

/// A value shared by test threads.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func set(_ value: Value) { lock.withLock { stored = value } }
    func append<Element>(_ element: Element) where Value == [Element] { lock.withLock { stored.append(element) } }
}
