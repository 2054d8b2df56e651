import Dispatch
import Foundation

/// The one writer connection and a pool of reader connections over one database file.
///
/// In WAL mode readers never block the writer and the writer never blocks readers, so an
/// export streaming millions of rows leaves labelers' submissions untouched. Writes are
/// serialized through one connection, which is how SQLite works anyway; doing it here rather
/// than in SQLite's busy loop keeps writers in arrival order.
public final class DatabasePool: @unchecked Sendable {
    public let path: String
    private let writer: Database
    private let writerLock = NSLock()
    /// Guards `idleReaders` and `isClosed`.
    private let stateLock = NSLock()
    private var idleReaders: [Database]
    private var isClosed = false
    private let readerSlots: DispatchSemaphore

    public init(path: String, readerCount: Int = 4, synchronous: SynchronousLevel = .full) throws {
        precondition(readerCount > 0, "a pool needs at least one reader")
        self.path = path
        writer = try Database(path: path, synchronous: synchronous)
        var readers: [Database] = []
        for _ in 0..<readerCount { readers.append(try Database(path: path, readOnly: true, synchronous: synchronous)) }
        self.idleReaders = readers
        readerSlots = DispatchSemaphore(value: readerCount)
    }

    /// Runs `body` in an immediate transaction on the writer connection.
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        try withWriter { try $0.transaction(immediate: true, body) }
    }

    /// Runs `body` on the writer connection outside any transaction (migrations open their own).
    public func withWriter<T>(_ body: (Database) throws -> T) throws -> T {
        try checkOpen()
        writerLock.lock()
        defer { writerLock.unlock() }
        return try body(writer)
    }

    /// Runs `body` on a reader in a read transaction: one consistent snapshot for all its queries.
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        try checkOpen()
        readerSlots.wait()
        let reader = stateLock.withLock { idleReaders.removeLast() }
        defer {
            stateLock.withLock { idleReaders.append(reader) }
            readerSlots.signal()
        }
        return try reader.transaction(immediate: false, body)
    }

    /// Copies the database to a new file while the pool keeps serving.
    public func backup(to path: String) throws {
        try read { try $0.backup(to: path) }
    }

    /// Refuses new work; connections close when the pool is released.
    public func close() {
        stateLock.withLock { isClosed = true }
        writerLock.lock()
        defer { writerLock.unlock() }
        try? writer.execute("PRAGMA optimize")
    }

    private func checkOpen() throws {
        if stateLock.withLock({ isClosed }) { throw StorageError("the database pool is closed") }
    }
}
