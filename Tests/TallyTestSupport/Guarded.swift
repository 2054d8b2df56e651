import Foundation

/// A value that tests share between threads (a parallel section's iterations, a server's
/// handlers), behind a lock.
public final class Guarded<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    public func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }

    public func load() -> Value { withLock { $0 } }
}
