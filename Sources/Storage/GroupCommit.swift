import Dispatch
import Foundation

/// Commits many small writes together without weakening durability.
///
/// With `synchronous=FULL` every commit waits for the disk to sync the log, so one transaction
/// per labeler's submission caps throughput at the disk's sync rate. Here each caller hands its
/// write to one committing thread and waits; the thread takes every write waiting at that moment,
/// runs each in a savepoint of one transaction (so one failing write rolls back alone), commits
/// once, and only then wakes the callers. A caller that returns has its write on disk, exactly as
/// with its own transaction; a crash before the commit loses only writes whose callers had not
/// been answered. (The technique is the group commit of database servers.)
public final class GroupCommit: @unchecked Sendable {
    private final class Job {
        let body: (Database) throws -> Void
        var error: (any Error)?
        /// Called on the committing thread once the job's transaction has committed (or failed).
        let finish: ((any Error)?) -> Void
        init(_ body: @escaping (Database) throws -> Void, finish: @escaping ((any Error)?) -> Void) {
            self.body = body
            self.finish = finish
        }
    }

    private let pool: DatabasePool
    private let condition = NSCondition()
    private var waiting: [Job] = []
    private var stopped = false
    /// Writes per transaction at most, so one transaction never grows without bound.
    private let maximumBatch: Int
    /// Transactions committed and writes done, for diagnostics and the benchmark.
    public private(set) var transactionCount = 0
    public private(set) var writeCount = 0

    /// Transactions committed, writes they held, and writes waiting now, read together.
    public var statistics: (transactions: Int, writes: Int, waiting: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (transactionCount, writeCount, waiting.count)
    }

    public init(pool: DatabasePool, maximumBatch: Int = 1000) {
        self.pool = pool
        self.maximumBatch = maximumBatch
        let thread = Thread { [weak self] in self?.run() }
        thread.name = "tally.group-commit"
        thread.start()
    }

    /// Runs `body` in the next group transaction and returns once that transaction is durable.
    /// `body`'s error rolls back its own changes only, and is rethrown here.
    public func write<T>(_ body: @escaping (Database) throws -> T) throws -> T {
        // Each caller sleeps on its own semaphore, so a commit wakes exactly the callers it finished.
        let finished = DispatchSemaphore(value: 0)
        var outcome: Result<T, any Error>?
        write(body) { result in
            outcome = result
            finished.signal()
        }
        finished.wait()
        return try outcome!.get()
    }

    /// Hands `body` to the next group transaction and returns at once; `completion` gets its
    /// result on the committing thread once that transaction is durable (or has failed). No
    /// thread waits meanwhile: this is what an event-loop server wants.
    public func write<T>(_ body: @escaping (Database) throws -> T, completion: @escaping (Result<T, any Error>) -> Void) {
        var value: T?
        let job = Job({ database in value = try body(database) }, finish: { error in
            if let error { completion(.failure(error)) } else { completion(.success(value!)) }
        })
        condition.lock()
        guard !stopped else {
            condition.unlock()
            completion(.failure(StorageError("the database is closing")))
            return
        }
        waiting.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Finishes the writes already handed in, then refuses new ones.
    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while waiting.isEmpty && !stopped { condition.wait() }
            if waiting.isEmpty && stopped {
                condition.unlock()
                return
            }
            let batch = Array(waiting.prefix(maximumBatch))
            waiting.removeFirst(batch.count)
            condition.unlock()

            commit(batch)

            condition.lock()
            transactionCount += 1
            writeCount += batch.count
            condition.unlock()
            for job in batch { job.finish(job.error) }
        }
    }

    private func commit(_ batch: [Job]) {
        do {
            try pool.withWriter { database in
                try database.execute("BEGIN IMMEDIATE")
                for job in batch {
                    try database.execute("SAVEPOINT tally_group_write")
                    do {
                        try job.body(database)
                        try database.execute("RELEASE tally_group_write")
                    } catch {
                        job.error = error
                        try database.execute("ROLLBACK TO tally_group_write")
                        try database.execute("RELEASE tally_group_write")
                    }
                }
                do {
                    try database.execute("COMMIT")
                } catch {
                    if database.isInTransaction { try? database.execute("ROLLBACK") }
                    throw error
                }
            }
        } catch {
            // The transaction as a whole failed: nothing of it is on disk, so every write fails.
            for job in batch where job.error == nil { job.error = error }
        }
    }
}
