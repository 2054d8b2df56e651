import Foundation

/// Limits failed sign-ins per username and per client address: after `maximumFailures` in
/// `window` seconds, further attempts are refused until the oldest failure ages out. Kept in
/// memory: a restart forgets, which is acceptable for slowing down password guessing.
final class LoginRateLimiter: @unchecked Sendable {
    let maximumFailures: Int
    let window: TimeInterval
    private let lock = NSLock()
    private var failures: [String: [Date]] = [:]

    init(maximumFailures: Int = 5, window: TimeInterval = 15 * 60) {
        self.maximumFailures = maximumFailures
        self.window = window
    }

    /// Seconds until another attempt is allowed for these keys; nil when allowed now.
    func retryAfter(keys: [String], now: Date = Date()) -> Int? {
        lock.withLock {
            var wait: TimeInterval?
            for key in keys {
                let recent = (failures[key] ?? []).filter { now.timeIntervalSince($0) < window }
                failures[key] = recent
                if recent.count >= maximumFailures, let oldest = recent.first {
                    wait = max(wait ?? 0, window - now.timeIntervalSince(oldest))
                }
            }
            return wait.map { Int($0.rounded(.up)) }
        }
    }

    func recordFailure(keys: [String], now: Date = Date()) {
        lock.withLock {
            for key in keys { failures[key, default: []].append(now) }
        }
    }

    func recordSuccess(keys: [String]) {
        lock.withLock {
            for key in keys { failures[key] = nil }
        }
    }
}
