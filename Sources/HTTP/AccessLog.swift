import Dispatch
import Foundation
import Glibc

/// The access log written the way nginx writes its own: each request's line is appended to a
/// buffer in memory on the event loop, and a writer off the request path hands the buffer to the
/// file at most `flushInterval` after a line came in, or as soon as `bufferLimit` bytes have
/// gathered; `close()` (the server's shutdown) writes whatever is left, so a clean shutdown loses
/// no line. A log that cannot keep up (a blocked pipe) keeps at most `backlogLimit` bytes
/// waiting and counts what it had to drop, in a line of its own when it can write again,
/// rather than holding the event loops or memory hostage.
///
/// Lines take swift-log's `StreamLogHandler` layout (`time level label : key=value ... message`),
/// the same as every other line of Tally's log, with the time cached per second as nginx does.
public final class AccessLog: @unchecked Sendable {
    private struct Pending {
        var bytes: [UInt8] = []
        var dropped = 0
        var writeScheduled = false
        var closed = false
    }

    private let descriptor: Int32
    private let label: String
    private let bufferLimit: Int
    private let backlogLimit: Int
    private let pending = Locked(Pending())
    /// Writes run here, one at a time, in the order the buffers were taken.
    private let writer = DispatchQueue(label: "tally.http.access-log", qos: .utility)
    private let timer: DispatchSourceTimer
    private let clock = Locked<(second: Int, text: [UInt8])>((-1, []))

    /// - Parameters:
    ///   - descriptor: where the lines go (standard error by default, as the rest of the log).
    ///   - label: the logger label each line names.
    public init(descriptor: Int32 = STDERR_FILENO, label: String = "tally", flushInterval: Double = 1, bufferLimit: Int = 64 << 10,
                backlogLimit: Int = 8 << 20) {
        (self.descriptor, self.label, self.bufferLimit, self.backlogLimit) = (descriptor, label, bufferLimit, backlogLimit)
        timer = DispatchSource.makeTimerSource(queue: writer)
        timer.schedule(deadline: .now() + flushInterval, repeating: flushInterval, leeway: .milliseconds(100))
        timer.setEventHandler { [weak self] in self?.writePending() }
        timer.resume()
    }

    deinit { timer.cancel() }

    /// One request's line: method, path, status, client and duration, as metadata of the
    /// constant message `request`.
    func record(method: String, path: String, status: Int, remote: String, milliseconds: Double) {
        var line = timestamp()
        line += Array(" info \(label) : duration_ms=\((milliseconds * 100).rounded() / 100) method=\(method) path=\(path) remote=\(remote) status=\(status) [HTTP] request\n".utf8)
        let schedule = pending.withLock { state -> Bool in
            guard !state.closed else { return false }
            if state.bytes.count + line.count > backlogLimit {
                state.dropped += 1
                return false
            }
            state.bytes += line
            guard state.bytes.count >= bufferLimit, !state.writeScheduled else { return false }
            state.writeScheduled = true
            return true
        }
        if schedule { writer.async { [self] in writePending() } }
    }

    /// Writes every line recorded so far, and stops the timer; lines recorded afterwards are
    /// not kept. Blocks until the lines are written.
    public func close() {
        writer.sync {
            timer.cancel()
            writePending()
            pending.withLock { $0.closed = true }
        }
    }

    /// Takes the buffer and writes it whole (on the writer queue).
    private func writePending() {
        let (bytes, dropped) = pending.withLock { state -> ([UInt8], Int) in
            defer { (state.bytes, state.dropped, state.writeScheduled) = ([], 0, false) }
            return (state.bytes, state.dropped)
        }
        var output = bytes
        if dropped > 0 {
            output += timestamp() + Array(" warning \(label) : dropped=\(dropped) [HTTP] access log lines dropped: the log could not keep up\n".utf8)
        }
        var offset = 0
        output.withUnsafeBytes { buffer in
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    // A closed or failing log: nothing to tell it with; the lines are lost.
                    return
                }
            }
        }
    }

    /// The current second as `2026-12-01T10:00:00+0000`, formatted once per second.
    private func timestamp() -> [UInt8] {
        var now = time(nil)
        return clock.withLock { cached in
            if cached.second != now {
                var parts = tm()
                localtime_r(&now, &parts)
                var buffer = [Int8](repeating: 0, count: 32)
                let length = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
                cached = (now, buffer[0..<length].map { UInt8(bitPattern: $0) })
            }
            return cached.text
        }
    }
}
