import Foundation
import TallyTestSupport
import Testing
@testable import TallyServer

/// Slowloris beside the labelers, part of the standing adversarial suite of issue 19: clients
/// that send a request head a byte at a time and never finish it hold no thread and no turn of
/// the event loop, so a labeler's requests are answered while they trickle, and each of them is
/// closed with 408 once the header timeout has passed.
@Suite("Slow clients beside labeling")
struct SlowClientTests {
    static let slowClients = 200
    static let headerTimeout = 8.0

    @Test func slowlorisConnectionsAreTimedOutWhileTheLabelersWork() throws {
        let app = try TallyTestServer { $0.readHeaderTimeout = Self.headerTimeout }
        let rita = try signIn(app.port, "rita"), lena = try signIn(app.port, "lena")
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: ["Cookie": rita.cookie, "X-CSRF-Token": rita.csrf],
                                            json: #"{"name": "Slow", "rankingSize": 4}"#).json["id"] as? Int)
        _ = try call(app.port, "POST", "/api/projects/\(project)/imports/prompts?file=seed.jsonl",
                     headers: ["Cookie": rita.cookie, "X-CSRF-Token": rita.csrf, "Content-Type": "application/jsonl"], rawBody: LabelingTests.validImport)

        let opened = Date()
        // The trickling thread only sends on them and this one only reads: no state is shared.
        nonisolated(unsafe) let slow = try (0..<Self.slowClients).map { _ in try RawClient(port: app.port, timeoutSeconds: Int(Self.headerTimeout) + 10) }
        let head = Array("GET /api/me/work HTTP/1.1\r\nHost: test\r\nX-Padding: ".utf8)
        let trickling = Locked<Bool>(true)
        let trickle = Thread {
            var sent = 0
            while trickling.value {
                for client in slow { try? client.send([sent < head.count ? head[sent] : UInt8(ascii: "a")]) }
                sent += 1
                usleep(100_000)
            }
        }
        trickle.start()
        defer { trickling.set(false) }

        // The labeler's work while every slow connection is still open and trickling.
        var latencies: [Double] = []
        for _ in 0..<20 {
            let started = Date()
            #expect(try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: ["Cookie": lena.cookie]).status == 200)
            #expect(try call(app.port, "GET", "/api/me/work", headers: ["Cookie": lena.cookie]).status == 200)
            latencies.append(Date().timeIntervalSince(started))
        }
        let labelerDone = Date().timeIntervalSince(opened)
        #expect(labelerDone < Self.headerTimeout, "the labeler's 40 requests took \(labelerDone) s, past the slow clients' timeout: they waited for them")

        // Each slow connection is answered 408 and closed at the header timeout, trickle or not.
        var timedOut = 0
        for client in slow {
            if let response = try? client.readResponse(), response.statusCode == 408 { timedOut += 1 }
        }
        trickling.set(false)
        #expect(timedOut == Self.slowClients, "\(timedOut) of \(Self.slowClients) slow connections were answered 408")
        #expect(Date().timeIntervalSince(opened) < Self.headerTimeout + 10)
        print("slowloris: \(Self.slowClients) slow connections; the labeler's request pairs took \(String(format: "%.1f", 1000 * latencies.sorted()[latencies.count / 2])) ms (median), \(String(format: "%.1f", 1000 * (latencies.max() ?? 0))) ms (slowest)")
    }
}
