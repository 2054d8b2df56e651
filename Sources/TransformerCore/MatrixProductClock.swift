import CBLAS
import Dispatch
import Foundation

/// Adds up the wall time spent inside BLAS calls while enabled, for the benchmark's "share of
/// step time in cblas_sgemm". Disabled, it costs one flag read per call.
public final class MatrixProductClock: @unchecked Sendable {
    public static let shared = MatrixProductClock()
    private let lock = NSLock()
    private var enabled = false
    private var nanoseconds: UInt64 = 0
    private var depth = 0
    private var outermostStart: UInt64 = 0

    public func start() {
        lock.withLock {
            enabled = true
            nanoseconds = 0
        }
    }

    /// Stops and returns the seconds spent in BLAS since `start`. Calls overlapping in time (from
    /// parallel attention heads) count once, so the share of wall time stays below one.
    public func stop() -> Double {
        lock.withLock {
            enabled = false
            return Double(nanoseconds) / 1e9
        }
    }

    func measure(_ body: () -> Void) {
        guard lock.withLock({ enabled }) else {
            body()
            return
        }
        let begin = DispatchTime.now().uptimeNanoseconds
        lock.withLock {
            if depth == 0 { outermostStart = begin }
            depth += 1
        }
        body()
        let end = DispatchTime.now().uptimeNanoseconds
        lock.withLock {
            depth -= 1
            if depth == 0 { nanoseconds += end - outermostStart }
        }
    }
}

/// What OpenBLAS reports about itself: the kernel it chose for this processor and its threads.
public enum BLASInformation {
    public static var coreName: String { String(cString: openblas_get_corename()) }
    public static var configuration: String { String(cString: openblas_get_config()) }
    public static var threadCount: Int { Int(openblas_get_num_threads()) }
}

/// OpenBLAS's own threads, left running, spin between calls and fight Tally's workers for the
/// cores (a quarter of a training step went to their spinning and to the scheduler). Tally
/// splits matrix products over the cores itself, so OpenBLAS is told to use one thread.
public enum BLASThreads {
    private static let configured: Void = { openblas_set_num_threads(1) }()

    /// Makes OpenBLAS single-threaded, once per process; every model does this on creation.
    public static func useTallysOwnParallelism() { _ = configured }
}
