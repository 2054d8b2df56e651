import Foundation
import Testing
@testable import Storage

@Suite("Database")
struct DatabaseTests {
    @Test func opensWithWALForeignKeysAndFullSync() throws {
        let database = try Database(path: try temporaryDatabasePath())
        #expect(try database.queryScalarText("PRAGMA journal_mode") == "wal")
        #expect(try database.queryScalarInt("PRAGMA foreign_keys") == 1)
        #expect(try database.queryScalarInt("PRAGMA synchronous") == 2) // FULL
    }

    @Test func bindsAndReadsEveryStorageClass() throws {
        let database = try Database(path: try temporaryDatabasePath())
        try database.execute("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n TEXT) STRICT")
        let text = "Grüße, \"quotes\" and 'apostrophes' 🚀"
        try database.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [Int64.max, 2.5, text, [UInt8]([0, 1, 255]), nil])
        let row = try #require(try database.queryOne("SELECT * FROM t"))
        #expect(row["i"] == .integer(Int64.max))
        #expect(row["r"] == .real(2.5))
        #expect(row["s"] == .text(text))
        #expect(row["b"] == .blob([0, 1, 255]))
        #expect(row["n"] == .null)
        #expect(try row.string("s") == text)
    }

    @Test func wrongArgumentCountIsAnError() throws {
        let database = try Database(path: try temporaryDatabasePath())
        try database.execute("CREATE TABLE t (a INTEGER)")
        #expect(throws: StorageError.self) { try database.execute("INSERT INTO t VALUES (?)", [1, 2]) }
    }

    @Test func errorsKeepTheSQLButNeverTheValues() throws {
        let database = try Database(path: try temporaryDatabasePath())
        try database.execute("CREATE TABLE accounts (name TEXT UNIQUE) STRICT")
        try database.execute("INSERT INTO accounts VALUES (?)", ["secret-password-value"])
        do {
            try database.execute("INSERT INTO accounts VALUES (?)", ["secret-password-value"])
            Issue.record("expected a unique violation")
        } catch let error as DatabaseError {
            #expect(error.isUniqueViolation)
            #expect(error.description.contains("INSERT INTO accounts"))
            #expect(!error.description.contains("secret-password-value"))
        }
    }

    @Test func transactionsCommitOrRollBack() throws {
        let database = try Database(path: try temporaryDatabasePath())
        try database.execute("CREATE TABLE t (a INTEGER)")
        try database.transaction { try $0.execute("INSERT INTO t VALUES (1)") }
        struct Failure: Error {}
        #expect(throws: Failure.self) {
            try database.transaction { database in
                try database.execute("INSERT INTO t VALUES (2)")
                throw Failure()
            }
        }
        #expect(try database.queryScalarInt("SELECT count(*) FROM t") == 1)
        #expect(!database.isInTransaction)
    }

    @Test func foreignKeysAreEnforced() throws {
        let database = try Database(path: try temporaryDatabasePath())
        try database.executeScript("""
            CREATE TABLE parent (id INTEGER PRIMARY KEY);
            CREATE TABLE child (parent_id INTEGER NOT NULL REFERENCES parent (id));
            """)
        #expect(throws: DatabaseError.self) { try database.execute("INSERT INTO child VALUES (42)") }
    }

    @Test func backupIsAConsistentCopyAndRefusesToOverwrite() throws {
        let path = try temporaryDatabasePath()
        let database = try Database(path: path)
        try database.execute("CREATE TABLE t (a INTEGER)")
        for value in 0..<100 { try database.execute("INSERT INTO t VALUES (?)", [value]) }
        let target = path + ".backup"
        try database.backup(to: target)
        let copy = try Database(path: target, readOnly: true)
        #expect(try copy.queryScalarInt("SELECT sum(a) FROM t") == 4950)
        #expect(try copy.integrityCheck() == ["ok"])
        #expect(throws: StorageError.self) { try database.backup(to: target) }
        #expect(!FileManager.default.fileExists(atPath: target + ".partial"))
    }

    @Test func readOnlyConnectionsCannotWrite() throws {
        let path = try temporaryDatabasePath()
        try Database(path: path).execute("CREATE TABLE t (a INTEGER)")
        let reader = try Database(path: path, readOnly: true)
        #expect(throws: DatabaseError.self) { try reader.execute("INSERT INTO t VALUES (1)") }
    }
}

@Suite("Database pool")
struct DatabasePoolTests {
    @Test func readersSeeASnapshotWhileTheWriterCommits() throws {
        let pool = try DatabasePool(path: try temporaryDatabasePath(), readerCount: 2)
        try pool.write { try $0.execute("CREATE TABLE t (a INTEGER)") }
        try pool.write { try $0.execute("INSERT INTO t VALUES (1)") }
        let readerStarted = DispatchSemaphore(value: 0)
        let writerDone = DispatchSemaphore(value: 0)
        let counts = Locked<[Int]>([])
        DispatchQueue.global().async {
            try? pool.read { database in
                counts.append(try database.queryScalarInt("SELECT count(*) FROM t") ?? -1)
                readerStarted.signal()
                writerDone.wait()
                // Same transaction: the writer's commit is invisible until it ends.
                counts.append(try database.queryScalarInt("SELECT count(*) FROM t") ?? -1)
            }
            readerStarted.signal()
        }
        readerStarted.wait()
        // The writer is not blocked by the open read transaction (WAL).
        try pool.write { try $0.execute("INSERT INTO t VALUES (2)") }
        writerDone.signal()
        readerStarted.wait()
        #expect(counts.values == [1, 1])
        #expect(try pool.read { try $0.queryScalarInt("SELECT count(*) FROM t") } == 2)
    }

    @Test func concurrentReadersDuringWrites() throws {
        let pool = try DatabasePool(path: try temporaryDatabasePath(), readerCount: 4)
        try pool.write { try $0.execute("CREATE TABLE t (a INTEGER NOT NULL)") }
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for step in 0..<50 {
                do {
                    if worker % 2 == 0 {
                        try pool.write { try $0.execute("INSERT INTO t VALUES (?)", [worker * 1000 + step]) }
                    } else {
                        _ = try pool.read { try $0.queryScalarInt("SELECT count(*) FROM t") }
                    }
                } catch {
                    failures.append("\(error)")
                }
            }
        }
        #expect(failures.values.isEmpty)
        #expect(try pool.read { try $0.queryScalarInt("SELECT count(*) FROM t") } == 200)
    }

    @Test func backupWhileServing() throws {
        let path = try temporaryDatabasePath()
        let pool = try DatabasePool(path: path)
        try pool.write { try $0.execute("CREATE TABLE t (a INTEGER)") }
        let stop = Locked<Bool>(false)
        let writer = DispatchGroup()
        DispatchQueue.global().async(group: writer) {
            var value = 0
            while !stop.value {
                try? pool.write { try $0.execute("INSERT INTO t VALUES (?)", [value]) }
                value += 1
            }
        }
        while try pool.read({ try $0.queryScalarInt("SELECT count(*) FROM t") }) ?? 0 < 10 { usleep(1_000) }
        try pool.backup(to: path + ".backup")
        stop.set(true)
        writer.wait()
        let copy = try Database(path: path + ".backup", readOnly: true)
        #expect(try copy.integrityCheck() == ["ok"])
        #expect((try copy.queryScalarInt("SELECT count(*) FROM t") ?? 0) >= 10)
    }

    @Test func closedPoolRefusesWork() throws {
        let pool = try DatabasePool(path: try temporaryDatabasePath())
        pool.close()
        #expect(throws: StorageError.self) { try pool.read { _ in 1 } }
    }
}

/// A value shared by test threads.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    var values: Value { value }
    func set(_ value: Value) { lock.withLock { stored = value } }
    func append<Element>(_ element: Element) where Value == [Element] { lock.withLock { stored.append(element) } }
}
