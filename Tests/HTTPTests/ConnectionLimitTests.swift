import Foundation
import TallyTestSupport
import Testing
@testable import HTTP

@Suite("Trusted proxies and the per-client connection limit")
struct ConnectionLimitTests {
    @Test func proxiesAreAddressesOrRangesAndTheClientIsTheRightMostUntrustedHop() throws {
        let proxies = try TrustedProxies(["10.0.0.0/8", "192.0.2.7", "fd00::/8"])
        #expect(proxies.contains("10.1.2.3") && proxies.contains("192.0.2.7") && !proxies.contains("192.0.2.8") && proxies.contains("fd12::1"))
        #expect(!proxies.contains("11.0.0.1") && !proxies.contains("fe80::1") && !proxies.contains("not an address"))
        #expect(proxies.client(peer: "10.0.0.1", forwardedFor: "203.0.113.9") == "203.0.113.9")
        #expect(proxies.client(peer: "10.0.0.1", forwardedFor: "198.51.100.1, 203.0.113.9, 10.0.0.2") == "203.0.113.9", "the right-most untrusted hop")
        #expect(proxies.client(peer: "10.0.0.1", forwardedFor: "10.0.0.3, 10.0.0.2") == "10.0.0.3", "every hop a proxy: the first")
        #expect(proxies.client(peer: "10.0.0.1", forwardedFor: "203.0.113.9, garbage") == "10.0.0.1", "a hop that is no address: the peer")
        #expect(proxies.client(peer: "203.0.113.1", forwardedFor: "10.9.9.9") == "203.0.113.1", "an untrusted peer's header counts for nothing")
        #expect(proxies.client(peer: "10.0.0.1", forwardedFor: nil) == "10.0.0.1")
        #expect(throws: TrustedProxyError.self) { try TrustedProxies(["10.0.0.0/33"]) }
        #expect(throws: TrustedProxyError.self) { try TrustedProxies(["proxy.example"]) }
        #expect(TrustedProxies.none.client(peer: "127.0.0.1", forwardedFor: "203.0.113.9") == "127.0.0.1")
        #expect(Server.host(of: "[::1]:8080") == "::1" && Server.host(of: "127.0.0.1:5000") == "127.0.0.1")
    }

    private func connected(_ port: Int, count: Int) throws -> [RawClient] {
        try (0..<count).map { _ in
            let client = try RawClient(port: port)
            try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().statusCode == 200)
            return client
        }
    }

    @Test func oneAddressMayHoldItsShareOfConnectionsOnly() throws {
        var configuration = ServerConfiguration()
        configuration.maxConnectionsPerClient = 3
        let app = try TestServer(configuration: configuration)
        var held = try connected(app.port, count: 3)
        let refused = try RawClient(port: app.port)
        let answer = try refused.readResponse()
        #expect(answer.statusCode == 503 && answer.text.contains("too_many_connections"), "the fourth connection of one address is refused")
        held.removeLast()
        // The slot comes back once the server has seen the close.
        var admitted = false
        for _ in 0..<50 where !admitted {
            usleep(20_000)
            let client = try RawClient(port: app.port)
            try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            admitted = (try? client.readResponse().statusCode) == 200
            if admitted { held.append(client) }
        }
        #expect(admitted, "a closed connection frees its address's slot")
    }

    @Test func aTrustedProxyIsNotHeldToOneAddressesShare() throws {
        var configuration = ServerConfiguration()
        configuration.maxConnectionsPerClient = 2
        configuration.trustedProxies = try TrustedProxies(["127.0.0.1"])
        let app = try TestServer(configuration: configuration)
        let held = try connected(app.port, count: 4)
        #expect(held.count == 4)
    }
}
