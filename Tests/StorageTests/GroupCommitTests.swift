import Foundation
import Testing
@testable import Storage

@Suite("Group commit")
struct GroupCommitTests {
    @Test func concurrentWritesShareTransactionsAndAllCommit() throws {
        let pool = try DatabasePool(path: try temporaryDatabasePath())
        try pool.write { try $0.execute("CREATE TABLE t (writer INTEGER NOT NULL, step INTEGER NOT NULL, UNIQUE (writer, step))") }
        let group = GroupCommit(pool: pool)
        let failures = Locked<[String]>([])
        // 32 threads of their own, not concurrentPerform's one per core: on two busy cores that
        // can run the writers one after another, and then no transaction is ever shared.
        let finished = DispatchGroup()
        for writer in 0..<32 {
            finished.enter()
            Thread {
                defer { finished.leave() }
                for step in 0..<20 {
                    do {
                        let id = try group.write { database -> Int64 in
                            try database.execute("INSERT INTO t VALUES (?, ?)", [writer, step])
                            return database.lastInsertRowID
                        }
                        if id <= 0 { failures.append("no row id") }
                    } catch {
                        failures.append("\(error)")
                    }
                }
            }.start()
        }
        finished.wait()
        #expect(failures.values.isEmpty)
        #expect(try pool.read { try $0.queryScalarInt("SELECT count(*) FROM t") } == 640)
        #expect(group.writeCount == 640)
        // Writers waiting while a commit is under way share the next transaction.
        #expect(group.transactionCount < 640)
        group.stop()
    }

    @Test func aFailingWriteRollsBackAloneAndRethrows() throws {
        let pool = try DatabasePool(path: try temporaryDatabasePath())
        try pool.write { try $0.execute("CREATE TABLE t (value INTEGER NOT NULL UNIQUE)") }
        let group = GroupCommit(pool: pool)
        try group.write { try $0.execute("INSERT INTO t VALUES (1)") }
        let outcomes = Locked<[Bool]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            do {
                try group.write { database in
                    try database.execute("INSERT INTO t VALUES (?)", [index + 100])
                    // Every odd writer inserts a duplicate after its first row: its whole write must vanish.
                    if index % 2 == 1 { try database.execute("INSERT INTO t VALUES (1)") }
                }
                outcomes.append(true)
            } catch {
                outcomes.append(false)
            }
        }
        #expect(outcomes.values.filter { $0 }.count == 4)
        let stored = try pool.read { try $0.query("SELECT value FROM t ORDER BY value").compactMap { $0[0].integer } }
        #expect(stored == [1, 100, 102, 104, 106])
        group.stop()
        #expect(throws: StorageError.self) { try group.write { _ in 1 } }
    }
}
