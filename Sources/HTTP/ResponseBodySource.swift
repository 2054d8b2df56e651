import Dispatch

/// Makes a streamed response's content one piece at a time, as the client takes it.
///
/// The connection asks for the next piece only once the last one is in the socket, so a client
/// that reads slowly, or not at all, costs one piece of memory and no thread: between requests
/// nothing of the source runs (the producer is paused, not blocked). A stalled client is closed
/// at the write timeout, and the source is cancelled.
public protocol ResponseBodySource: Sendable {
    /// Makes the next piece and hands it to `deliver` exactly once, now or later and from any
    /// thread: bytes (an empty piece is skipped), nil at the end, or the error the content
    /// failed with. Called on the handlers' queue, one call at a time, so it may read the
    /// database; it must not wait for something that may never come (an event stream keeps
    /// `deliver` and calls it when an event arrives).
    func nextPiece(_ deliver: @escaping @Sendable (Result<[UInt8]?, any Error>) -> Void)
    /// The connection closed before the end: release what the source holds.
    func cancel()
}

extension ResponseBodySource {
    public func cancel() {}
}

/// The pieces of a sequence, gathered up to 16 KiB a piece so that short lines do not cost a
/// chunk and a system call each.
final class SequenceBodySource<Pieces: Sequence & Sendable>: ResponseBodySource, @unchecked Sendable where Pieces.Element == [UInt8] {
    // The connection calls `nextPiece` one call at a time, so the iterator needs no lock.
    private var iterator: Pieces.Iterator
    private static var pieceBytes: Int { 16 * 1024 }

    init(_ pieces: Pieces) { iterator = pieces.makeIterator() }

    func nextPiece(_ deliver: @escaping @Sendable (Result<[UInt8]?, any Error>) -> Void) {
        var piece: [UInt8] = []
        while piece.count < Self.pieceBytes, let next = iterator.next() { piece += next }
        deliver(.success(piece.isEmpty ? nil : piece))
    }
}

/// A Server-Sent Events stream (the WHATWG HTML "server-sent events" format) that producers on
/// any thread send events to. Events wait here until the connection asks for them; a client that
/// falls further behind than `maximumPendingBytes` is disconnected rather than buffered without
/// bound.
public final class EventStream: ResponseBodySource, @unchecked Sendable {
    /// Why an event stream ended before its producer finished it.
    public struct TooSlow: Error, CustomStringConvertible {
        public let pendingBytes: Int
        public var description: String { "the client fell \(pendingBytes) bytes of events behind" }
    }

    public let maximumPendingBytes: Int
    private let lock = Locked<State>(State())
    private struct State {
        var pending: [UInt8] = []
        var waiting: (@Sendable (Result<[UInt8]?, any Error>) -> Void)?
        var finished = false
        var failure: (any Error)?
        var cancelled = false
        var cancellationHandlers: [@Sendable () -> Void] = []
    }

    public init(maximumPendingBytes: Int = 1 << 20) {
        self.maximumPendingBytes = maximumPendingBytes
    }

    /// Whether the client has gone (or was dropped): producers can stop.
    public var isCancelled: Bool { lock.withLock { $0.cancelled || $0.failure != nil } }

    /// Sends one event. A data field cannot hold a newline, so each line of `data` becomes its
    /// own field.
    public func send(event: String? = nil, data: String, id: String? = nil) {
        var text = ""
        if let id { text += "id: \(id)\n" }
        if let event { text += "event: \(event)\n" }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) { text += "data: \(line)\n" }
        text += "\n"
        append(Array(text.utf8))
    }

    /// A comment line, which keeps idle proxies from closing the stream.
    public func sendKeepAlive() { append(Array(": keep-alive\n\n".utf8)) }

    /// Ends the stream once what was sent is out.
    public func finish() {
        let deliver = lock.withLock { state -> (@Sendable (Result<[UInt8]?, any Error>) -> Void)? in
            state.finished = true
            guard state.pending.isEmpty, let waiting = state.waiting else { return nil }
            state.waiting = nil
            return waiting
        }
        deliver?(.success(nil))
    }

    /// Runs `handler` once when the client goes away (at once if it has already).
    public func onCancel(_ handler: @escaping @Sendable () -> Void) {
        let runNow = lock.withLock { state -> Bool in
            if state.cancelled { return true }
            state.cancellationHandlers.append(handler)
            return false
        }
        if runNow { handler() }
    }

    private func append(_ bytes: [UInt8]) {
        let (deliver, result) = lock.withLock { state -> ((@Sendable (Result<[UInt8]?, any Error>) -> Void)?, Result<[UInt8]?, any Error>) in
            guard !state.finished, !state.cancelled, state.failure == nil else { return (nil, .success(nil)) }
            state.pending += bytes
            if state.pending.count > maximumPendingBytes {
                state.failure = TooSlow(pendingBytes: state.pending.count)
                state.pending = []
            }
            guard let waiting = state.waiting else { return (nil, .success(nil)) }
            state.waiting = nil
            return (waiting, take(&state))
        }
        deliver?(result)
    }

    /// What the next piece is, from the state: the failure, the pending bytes, or the end.
    private func take(_ state: inout State) -> Result<[UInt8]?, any Error> {
        if let failure = state.failure { return .failure(failure) }
        let piece = state.pending
        state.pending = []
        return .success(piece.isEmpty && state.finished ? nil : piece)
    }

    public func nextPiece(_ deliver: @escaping @Sendable (Result<[UInt8]?, any Error>) -> Void) {
        let result = lock.withLock { state -> Result<[UInt8]?, any Error>? in
            if state.failure == nil && state.pending.isEmpty && !state.finished {
                state.waiting = deliver
                return nil
            }
            return take(&state)
        }
        if let result { deliver(result) }
    }

    public func cancel() {
        let handlers = lock.withLock { state -> [@Sendable () -> Void] in
            state.cancelled = true
            state.waiting = nil
            state.pending = []
            defer { state.cancellationHandlers = [] }
            return state.cancellationHandlers
        }
        for handler in handlers { handler() }
    }
}
