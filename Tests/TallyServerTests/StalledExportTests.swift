import Foundation
import TallyTestSupport
import Testing
@testable import TallyServer

@Suite("Stalled export downloads beside labeling", .serialized)
struct StalledExportTests {
    /// Several researchers' downloads of a large export that never read hold neither handler
    /// threads nor database connections: a labeler still signs in, gets the next task and
    /// submits; researchers still list projects; readiness still says ready, and means it.
    @Test func stalledExportsDoNotStallTheLabelers() throws {
        let app = try TallyTestServer()
        let researcher = try signIn(app.port, "rita")
        let write = ["Cookie": researcher.cookie, "X-CSRF-Token": researcher.csrf]
        let project = try #require(try call(app.port, "POST", "/api/projects", headers: write, json: #"{"name": "Large", "rankingSize": 4, "ratingsRequired": false}"#).json["id"] as? Int)
        // 40 prompts of four 30,000-character answers, each ranked: a comparisons export of
        // about 14 MB, far more than a socket buffers.
        let answer = String(repeating: "a long answer ", count: 2_150)
        let lines = (0..<41).map { index in
            #"{"prompt": "Question \#(index)?", "candidates": [\#((0..<4).map { #"{"text": "\#(answer)\#($0)", "model": "m\#($0)"}"# }.joined(separator: ", "))]}"#
        }
        let imported = try call(app.port, "POST", "/api/projects/\(project)/imports/prompts?file=large.jsonl",
                                headers: write.merging(["Content-Type": "application/jsonl"]) { $1 }, rawBody: lines.joined(separator: "\n"), timeoutSeconds: 120)
        #expect(imported.status == 200, "\(imported.body.prefix(300))")
        let labeler = try signIn(app.port, "lena")
        let labelerHeaders = ["Cookie": labeler.cookie, "X-CSRF-Token": labeler.csrf]
        func rankNext() throws -> Int {
            let task = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: labelerHeaders)
            let prompt = try #require(task.json["prompt"] as? [String: Any])
            let candidates = try #require(prompt["candidates"] as? [[String: Any]]).compactMap { $0["id"] as? Int }
            let entries = candidates.enumerated().map { #"{"candidateId": \#($1), "rank": \#($0 + 1)}"# }.joined(separator: ", ")
            return try call(app.port, "POST", "/api/prompts/\(try #require(prompt["id"] as? Int))/rankings", headers: labelerHeaders,
                            json: #"{"entries": [\#(entries)], "shownOrder": [\#(candidates.map(String.init).joined(separator: ", "))]}"#).status
        }
        for _ in 0..<40 { #expect(try rankNext() == 201) }

        // More stalled downloads than the pool has database readers or the machine has cores.
        var stalled: [RawClient] = []
        for _ in 0..<(2 * ProcessInfo.processInfo.activeProcessorCount + 6) {
            let client = try RawClient(port: app.port, timeoutSeconds: 10, receiveBufferBytes: 4096)
            try client.send("GET /api/projects/\(project)/exports/comparisons HTTP/1.1\r\nHost: test\r\nCookie: \(researcher.cookie)\r\n\r\n")
            stalled.append(client)
        }
        usleep(500_000)

        // Each is answered before the stalled downloads reach the write timeout (30 s) that would
        // free whatever they held. Alone it takes milliseconds; in `make test` it runs beside the
        // fuzzer and slowloris on two cores, where 10 s was once not enough, so it may take 25.
        let signedIn = try call(app.port, "POST", "/api/session", json: #"{"username": "lena", "password": "\#(TallyTestServer.password)"}"#, timeoutSeconds: 25)
        #expect(signedIn.status == 200)
        let task = try call(app.port, "GET", "/api/projects/\(project)/next-ranking", headers: labelerHeaders, timeoutSeconds: 25)
        #expect(task.status == 200)
        #expect(try call(app.port, "GET", "/api/projects", headers: ["Cookie": researcher.cookie], timeoutSeconds: 25).status == 200)
        #expect(try rankNext() == 201)
        let ready = try call(app.port, "GET", "/health/ready", timeoutSeconds: 25)
        #expect(ready.status == 200, "\(ready.body)")
        // A download that is read arrives whole while the others stall.
        // (14 MB: a loaded machine may take a while, and the stalled ones do not hold it up.)
        let download = try call(app.port, "GET", "/api/projects/\(project)/exports/comparisons", headers: ["Cookie": researcher.cookie], timeoutSeconds: 120)
        #expect(download.body.split(separator: "\n").count == 41 * 6)
        withExtendedLifetime(stalled) {}
    }
}
