import Foundation

/// A value guarded by a lock.
///
/// Synchronization's `Mutex` and `Atomic` were used first, but as stored properties of classes
/// they miscompiled in release builds with Swift 6.3 on Linux (a public property of `Server`
/// read back as a pointer, and the process aborted in free()); a plain lock is measurably as fast here.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    func load() -> Value { withLock { $0 } }
    func store(_ newValue: Value) { withLock { $0 = newValue } }
}
