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
