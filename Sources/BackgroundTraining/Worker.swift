import Foundation
import Labeling
import Logging
import Storage
import TransformerCore

/// The background worker: claims queued jobs one at a time, runs them on compute threads of its
/// own at background priority, reports their progress and metrics, checkpoints them, and
/// registers the model versions they make. Runs inside `tally serve`, or alone as `tally worker`
/// against the same database (several workers share the queue safely: a job is claimed in one
/// write, and held only while its worker keeps renewing its lease).
public final class Worker: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Where job folders (checkpoints, then the trained model) and so model versions live.
        public var modelsDirectory: String
        /// Compute threads for training (default: all cores but one, so the server keeps one).
        public var threads = max(1, ComputeThreads.maximumCount - 1)
        /// A running job whose worker has not renewed its lease for this long was interrupted
        /// and is resumed by whichever worker looks next.
        public var leaseSeconds = 60.0
        /// A job interrupted this many times is failed instead of started again.
        public var maximumAttempts = 3
        /// Seconds between looks at the queue when it is empty.
        public var pollSeconds = 1.0
        /// Bytes a project's job checkpoints may take before those of failed jobs are pruned
        /// (`CheckpointPruner`).
        public var checkpointBudgetBytes: Int64 = 20_000_000_000
        /// How this worker names itself in `jobs.worker`: host, process and a random suffix.
        public var identity = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UInt32.random(in: 0...UInt32.max))"

        public init(modelsDirectory: String) { self.modelsDirectory = modelsDirectory }
    }

    let database: DatabasePool
    public let configuration: Configuration
    let logger: Logger
    private let jobs = JobRepository()
    private let state = NSCondition()
    private var stopping = false
    private var running = false
    private var thread: Thread?

    public init(database: DatabasePool, configuration: Configuration, logger: Logger) throws {
        (self.database, self.configuration, self.logger) = (database, configuration, logger)
        do {
            try FileManager.default.createDirectory(atPath: configuration.modelsDirectory, withIntermediateDirectories: true)
        } catch {
            throw StorageError("\(configuration.modelsDirectory): cannot create the models folder (\(error.localizedDescription))")
        }
    }

    /// Starts the worker's thread: it looks at the queue until `stop`.
    public func start() {
        state.withLock { running = true }
        let thread = Thread { [self] in
            ComputeThreads.setCallingThreadPriority(.background)
            let compute = ComputeThreads(count: configuration.threads, priority: .background)
            pruneCheckpoints()
            compute.run { loop() }
            state.withLock {
                running = false
                state.broadcast()
            }
        }
        thread.name = "tally.worker"
        thread.stackSize = 16 << 20
        self.thread = thread
        thread.start()
    }

    /// Asks the running job to save a checkpoint and give itself back to the queue, then waits
    /// (up to `timeout` seconds) for the worker to stop. A job not stopped in time resumes from
    /// its last checkpoint once its lease runs out.
    public func stop(timeout: Double = 60) {
        state.withLock {
            stopping = true
            state.broadcast()
            let deadline = Date().addingTimeInterval(timeout)
            while running, state.wait(until: deadline) {}
        }
    }

    var isStopping: Bool { state.withLock { stopping } }

    private func loop() {
        while !isStopping {
            do {
                if try !runNextJob() {
                    state.withLock { _ = stopping || state.wait(until: Date().addingTimeInterval(configuration.pollSeconds)) }
                }
            } catch {
                logger.error("the worker could not read the job queue", metadata: ["error": "\(error)"])
                state.withLock { _ = stopping || state.wait(until: Date().addingTimeInterval(configuration.pollSeconds * 5)) }
            }
        }
    }

    /// Puts interrupted jobs back, queues what the projects' retraining rules call for, then
    /// runs the next queued job to its end (or until it is paused, cancelled or the worker
    /// stops). Returns whether there was one.
    @discardableResult
    public func runNextJob() throws -> Bool {
        let now = Date().timeIntervalSince1970
        let claimed = try database.write { database -> Job? in
            for id in try jobs.recoverAbandoned(leaseSeconds: configuration.leaseSeconds, maximumAttempts: configuration.maximumAttempts, now: now, in: database) {
                logger.notice("resuming an interrupted job", metadata: ["job": "\(id)"])
            }
            for job in try RetrainingRule().queueDueJobs(in: database) {
                logger.info("retraining by the project's rule", metadata: ["job": "\(job.id)", "kind": "\(job.kind.rawValue)", "project": "\(job.projectId)"])
            }
            return try jobs.claimNext(worker: configuration.identity, now: now, in: database)
        }
        guard let job = claimed else { return false }
        logger.info("job started", metadata: ["job": "\(job.id)", "kind": "\(job.kind.rawValue)", "attempt": "\(job.attempts)"])
        JobRun(job: job, worker: self).run()
        pruneCheckpoints()
        return true
    }

    /// Keeps the projects' checkpoints within `checkpointBudgetBytes`; a failure to look is
    /// logged, never a reason to stop the queue.
    func pruneCheckpoints() {
        let pruner = CheckpointPruner(modelsDirectory: configuration.modelsDirectory, budgetBytes: configuration.checkpointBudgetBytes)
        do {
            let (removed, overBudget) = try pruner.prune(in: database)
            for pruned in removed {
                logger.notice("pruned a failed job's checkpoint", metadata: ["job": "\(pruned.jobID)", "bytes": "\(pruned.bytes)"])
            }
            for (project, bytes) in overBudget {
                logger.warning("the checkpoints that paused and queued jobs resume from exceed the budget",
                               metadata: ["project": "\(project)", "size": "\(CheckpointPruner.gigabytes(bytes))",
                                          "budget": "\(CheckpointPruner.gigabytes(configuration.checkpointBudgetBytes))"])
            }
        } catch {
            logger.warning("could not prune checkpoints", metadata: ["error": "\(error)"])
        }
    }

    /// The folder of `job`: its checkpoints while it runs, its trained model once it succeeds.
    func folder(of jobID: Int) -> String { configuration.modelsDirectory + "/job-\(jobID)" }
}
