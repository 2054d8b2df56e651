import Foundation
import Glibc
import TallyTestSupport
import Testing
@testable import HTTP

/// Counts the pieces a streamed response has made, and how many of its sources were cancelled.
private final class PieceCounter: @unchecked Sendable {
    private let counts = Locked<(made: Int, cancelled: Int)>((0, 0))
    var made: Int { counts.load().made }
    var cancelled: Int { counts.load().cancelled }
    func madeOne() { counts.withLock { $0.made += 1 } }
    func cancelledOne() { counts.withLock { $0.cancelled += 1 } }
}

/// 64 MiB of 64 KiB pieces, counted as they are made.
private struct CountedSource: ResponseBodySource {
    let counter: PieceCounter
    let remaining = Locked(1024)

    func nextPiece(_ deliver: @escaping @Sendable (Result<[UInt8]?, any Error>) -> Void) {
        let more = remaining.withLock { count -> Bool in
            count -= 1
            return count >= 0
        }
        guard more else { return deliver(.success(nil)) }
        counter.madeOne()
        deliver(.success([UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)))
    }

    func cancel() { counter.cancelledOne() }
}

@Suite("Streams and stalled readers", .serialized)
struct StalledReaderTests {
    /// Clients that ask for a large download and never read cost one piece each (the producer
    /// waits, it is not blocked) and no thread: more of them than Dispatch has threads, and
    /// requests that need a handler thread are still answered, and the stalls end at the write
    /// timeout with their sources cancelled.
    @Test func stalledDownloadsHoldNoThreadAndBoundedMemory() throws {
        let counter = PieceCounter()
        var configuration = ServerConfiguration()
        configuration.writeTimeout = 2
        let server = try TestServer(configuration: configuration) { router in
            router.get("/large") { _ in .stream(contentType: "application/octet-stream", CountedSource(counter: counter)) }
        }
        let stalledCount = 4 * ProcessInfo.processInfo.activeProcessorCount + 8
        var stalled: [RawClient] = []
        for _ in 0..<stalledCount {
            let client = try RawClient(port: server.port, timeoutSeconds: 10, receiveBufferBytes: 4096)
            try client.send("GET /large HTTP/1.1\r\nHost: test\r\n\r\n")
            stalled.append(client)
        }
        // Each stalled download fills its socket buffers and then waits for the client.
        #expect(eventually(within: 10) { counter.made >= stalledCount })
        usleep(300_000)
        let madeWhileStalled = counter.made
        // The kernel buffers a few MiB per socket at most: far less than the 64 MiB each asked for.
        #expect(madeWhileStalled < stalledCount * 128, "\(madeWhileStalled) pieces made for \(stalledCount) stalled clients")

        // Routes that block run on handler threads, and answer while the downloads stall.
        for _ in 0..<8 {
            let client = try RawClient(port: server.port, timeoutSeconds: 10)
            try client.send("GET /slow?ms=1 HTTP/1.1\r\nHost: test\r\n\r\n")
            #expect(try client.readResponse().text == "slow done")
        }
        // A reader that resumes gets every byte.
        let reader = try RawClient(port: server.port, timeoutSeconds: 10)
        try reader.send("GET /large HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(try reader.readResponse().body.count == 64 << 20)

        // The stalled ones are closed at the write timeout and their sources released.
        #expect(eventually(within: 10) { counter.cancelled >= stalledCount })
        withExtendedLifetime(stalled) {}
    }

    /// An event stream sends what producers send, as they send it, and lets them know when the
    /// client has gone.
    @Test func eventStreamDeliversEventsAsTheyComeAndReportsTheClientLeaving() throws {
        let streams = Locked<[EventStream]>([])
        let server = try TestServer { router in
            router.get("/live") { _ in
                let events = EventStream()
                streams.withLock { $0.append(events) }
                return .eventStream(events)
            }
        }
        let left = Locked(false)
        do {
            let client = try RawClient(port: server.port, timeoutSeconds: 5)
            try client.send("GET /live HTTP/1.1\r\nHost: test\r\n\r\n")
            #expect(eventually { !streams.load().isEmpty })
            let events = streams.load()[0]
            events.onCancel { left.store(true) }
            events.send(event: "step", data: "1")
            var received = ""
            #expect(eventually {
                var chunk = [UInt8](repeating: 0, count: 4096)
                let count = recv(client.descriptor, &chunk, chunk.count, Int32(MSG_DONTWAIT))
                if count > 0 { received += String(decoding: chunk[..<count], as: UTF8.self) }
                return received.contains("event: step\ndata: 1\n\n")
            })
            #expect(received.hasPrefix("HTTP/1.1 200"))
        }
        // The client is gone: the stream notices at its next event, or when the socket reports it.
        let events = streams.load()[0]
        #expect(eventually {
            events.send(event: "step", data: "2")
            return left.load()
        })
        #expect(events.isCancelled)
    }

    /// A client that falls far behind an event stream is dropped, not buffered without bound.
    @Test func aClientFarBehindAnEventStreamIsDropped() throws {
        let events = EventStream(maximumPendingBytes: 1024)
        for index in 0..<100 { events.send(data: "event \(index) with some padding to pass the bound") }
        let result = Locked<Result<[UInt8]?, any Error>?>(nil)
        events.nextPiece { delivered in result.store(delivered) }
        guard case .failure(let error)? = result.load() else { Issue.record("no failure"); return }
        #expect(error is EventStream.TooSlow)
        #expect(events.isCancelled)
    }
}
