import CKernels
import Foundation

/// The threads the core's parallel kernels run on, and how many: the one setting every kernel
/// takes its thread count from.
///
/// Whoever runs a model owns its threads: a training job makes a pool at a lower priority and
/// runs its steps inside `run`, so the kernels it calls use that pool and never Dispatch's
/// global pool, which the server's blocking handlers share (a training step must not starve a
/// labeler's request). Code that sets no pool uses `shared`. A pool's threads are at most one
/// per core: the kernels' scratch memory is sized for that many.
public final class ComputeThreads: @unchecked Sendable {
    /// How threads of a pool are scheduled beside the rest of the process.
    public enum Priority: Sendable {
        /// As the thread that made the pool.
        case normal
        /// Nice 10: what background training runs at, below the server's threads.
        case background

        var niceValue: Int32 { self == .normal ? 0 : 10 }
    }

    /// The most threads a pool has: one per core.
    public static let maximumCount = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// The pool of code that sets none: `TALLY_COMPUTE_THREADS` threads (default: one per core)
    /// at normal priority.
    public static let shared = ComputeThreads(count: ProcessInfo.processInfo.environment["TALLY_COMPUTE_THREADS"].flatMap(Int.init) ?? maximumCount)

    /// The pool the calling thread's kernels use: the one `run` made current, else `shared`.
    static var current: ComputeThreads {
        guard let pool = tally_pool_current() else { return shared }
        return Unmanaged<ComputeThreads>.fromOpaque(tally_pool_context(pool)).takeUnretainedValue()
    }

    /// The number of threads, the calling one included.
    public let count: Int
    public let priority: Priority
    private let pool: OpaquePointer

    public init(count: Int, priority: Priority = .normal) {
        self.priority = priority
        let requested = Int32(min(max(1, count), Self.maximumCount))
        pool = tally_pool_create(requested, priority.niceValue)
        self.count = Int(tally_pool_thread_count(pool))
        tally_pool_set_context(pool, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { tally_pool_destroy(pool) }

    /// Runs `body` with this pool as the calling thread's: every kernel it calls splits its work
    /// over these threads. The calling thread takes part; with `priority` background it runs at
    /// that priority too while `body` runs.
    public func run<Result>(_ body: () throws -> Result) rethrows -> Result {
        let previous = tally_pool_current()
        tally_pool_make_current(pool)
        defer { tally_pool_make_current(previous) }
        return try body()
    }

    /// Calls `body(i)` for every i < `iterations`, spread over the threads; returns when all
    /// are done.
    func forEach(_ iterations: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            var task = body
            withUnsafeMutablePointer(to: &task) { pointer in
                tally_pool_run(pool, iterations, { context, iteration in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(iteration)
                }, pointer)
            }
        }
    }

    /// Sets the calling thread's priority (Linux: per thread), for a thread that runs training.
    public static func setCallingThreadPriority(_ priority: Priority) {
        _ = tally_set_thread_nice(priority.niceValue)
    }
}
