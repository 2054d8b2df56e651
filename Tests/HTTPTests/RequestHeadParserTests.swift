import Testing
@testable import HTTP

/// Parses `text` as the bytes received so far.
private func parse(_ text: String, limits: RequestHeadLimits = RequestHeadLimits()) throws(RequestParsingError) -> HeadParseResult {
    var parser = RequestHeadParser(limits: limits)
    let bytes = Array(text.utf8)
    return try bytes.withUnsafeBufferPointer { buffer throws(RequestParsingError) in try parser.parse(buffer) }
}

private func head(_ text: String) throws -> RequestHead {
    guard case .complete(let head, _) = try parse(text) else {
        Issue.record("expected a complete head")
        throw RequestParsingError.badRequest("incomplete")
    }
    return head
}

private func status(of text: String, limits: RequestHeadLimits = RequestHeadLimits()) -> Int? {
    do {
        _ = try parse(text, limits: limits)
        return nil
    } catch {
        return error.status.code
    }
}

@Suite("Request head parser")
struct RequestHeadParserTests {
    @Test func parsesASimpleGet() throws {
        let head = try head("GET /api/prompts/7?split=train&q=a+b%21 HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n")
        #expect(head.method == .get)
        #expect(head.path == "/api/prompts/7")
        #expect(head.pathSegments == ["api", "prompts", "7"])
        #expect(head.query == [QueryItem(name: "split", value: "train"), QueryItem(name: "q", value: "a b!")])
        #expect(head.version == .http11)
        #expect(head.keepAlive)
        #expect(head.framing == .none)
    }

    @Test func reportsHowManyBytesTheHeadTook() throws {
        let text = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
        guard case .complete(let head, let consumed) = try parse(text) else { Issue.record("incomplete"); return }
        #expect(consumed == text.utf8.count - 5)
        #expect(head.framing == .contentLength(5))
    }

    @Test func waitsForMoreBytesWhenTheHeadIsTruncated() throws {
        for prefix in ["", "GET", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: h\r\n", "GET / HTTP/1.1\r\nHost: h\r\n\r"] {
            guard case .incomplete = try parse(prefix) else { Issue.record("'\(prefix)' should be incomplete"); continue }
        }
    }

    @Test func headerNamesAreCaseInsensitiveAndDuplicatesKept() throws {
        let head = try head("GET / HTTP/1.1\r\nhOsT: h\r\nX-Tag: a\r\nx-tag: b\r\n\r\n")
        #expect(head.headers["HOST"] == "h")
        #expect(head.headers.values(for: "X-TAG") == ["a", "b"])
    }

    @Test func obsoleteLineFoldingBecomesASpace() throws {
        let head = try head("GET / HTTP/1.1\r\nHost: h\r\nX-Long: first\r\n  second\r\n\r\n")
        #expect(head.headers["X-Long"] == "first second")
    }

    @Test func acceptsBareLineFeedsAndLeadingEmptyLines() throws {
        let head = try head("\r\n\r\nGET /a HTTP/1.1\nHost: h\n\n")
        #expect(head.path == "/a")
    }

    @Test func connectionHeaderDecidesKeepAlive() throws {
        #expect(try head("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n").keepAlive == false)
        #expect(try head("GET / HTTP/1.0\r\n\r\n").keepAlive == false)
        #expect(try head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keepAlive == true)
    }

    @Test func chunkedAndExpectContinue() throws {
        let head = try head("PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        #expect(head.framing == .chunked)
        #expect(head.expectsContinue)
    }

    @Test func absoluteFormTargetKeepsThePath() throws {
        #expect(try head("GET http://example.com/a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n").path == "/a/b")
    }

    @Test func encodedSlashStaysInsideItsSegment() throws {
        let head = try head("GET /files/a%2Fb HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(head.pathSegments == ["files", "a/b"])
        #expect(head.path == "/files/a/b")
    }

    @Test(arguments: [
        ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),                          // double space
        ("GET /\r\nHost: h\r\n\r\n", 400),                                    // HTTP/0.9 style
        ("GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n", 400),
        ("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),                           // not a token
        ("BREW / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
        ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        ("GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET relative HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n\r\n", 400),                                      // no Host
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),                          // space before colon
        ("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{0}b\r\n\r\n", 400),             // NUL in value
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400),                // bare CR
        ("GET / HTTP/1.1\r\n folded-first\r\nHost: h\r\n\r\n", 400),
        ("GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET /?q=%G1 HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET /%ff%fe HTTP/1.1\r\nHost: h\r\n\r\n", 400),                     // not UTF-8
        ("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nExpect: something-else\r\n\r\n", 417),
    ])
    func refusesMalformedHeads(text: String, expectedStatus: Int) {
        #expect(status(of: text) == expectedStatus, "for \(text.debugDescription)")
    }

    @Test func equalRepeatedContentLengthsAreAccepted() throws {
        #expect(try head("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n").framing == .contentLength(3))
    }

    @Test func oversizedRequestLineIs414EvenBeforeItEnds() {
        let longTarget = "/" + String(repeating: "a", count: 9000)
        #expect(status(of: "GET \(longTarget)") == 414)
        #expect(status(of: "GET \(longTarget) HTTP/1.1\r\nHost: h\r\n\r\n") == 414)
    }

    @Test func oversizedHeadIs431() {
        var limits = RequestHeadLimits()
        limits.maxHeaderBytes = 1024
        let big = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: \(String(repeating: "b", count: 2000))\r\n\r\n"
        #expect(status(of: big, limits: limits) == 431)
        #expect(status(of: String(big.prefix(1500)), limits: limits) == 431)
    }

    @Test func tooManyHeadersIs431() {
        var limits = RequestHeadLimits()
        limits.maxHeaderCount = 10
        let fields = (0..<11).map { "X-\($0): v\r\n" }.joined()
        #expect(status(of: "GET / HTTP/1.1\r\nHost: h\r\n\(fields)\r\n", limits: limits) == 431)
    }

    @Test func tricklingBytesOneAtATimeEventuallyCompletes() throws {
        let text = Array("GET /slow HTTP/1.1\r\nHost: h\r\nX: y\r\n\r\n".utf8)
        var parser = RequestHeadParser(limits: RequestHeadLimits())
        for end in 1...text.count {
            let result = try Array(text[..<end]).withUnsafeBufferPointer { buffer throws(RequestParsingError) in try parser.parse(buffer) }
            if end < text.count {
                guard case .incomplete = result else { Issue.record("complete too early at \(end)"); return }
            } else {
                guard case .complete(let head, let consumed) = result else { Issue.record("never completed"); return }
                #expect(head.path == "/slow")
                #expect(consumed == text.count)
            }
        }
    }

    @Test func randomGarbageNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let length = Int.random(in: 0..<300, using: &generator)
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var parser = RequestHeadParser(limits: RequestHeadLimits())
            _ = try? bytes.withUnsafeBufferPointer { buffer throws(RequestParsingError) in try parser.parse(buffer) }
        }
    }
}

@Suite("Chunked body decoder")
struct ChunkedBodyDecoderTests {
    private func decode(_ text: String, maxBody: Int = 1000, pieceSize: Int = .max) throws(RequestParsingError) -> (body: String, consumed: Int, complete: Bool) {
        let bytes = Array(text.utf8)
        var decoder = ChunkedBodyDecoder(maxBodyBytes: maxBody, maxTrailerBytes: 1000)
        var offset = 0
        var available = 0
        while available < bytes.count && !decoder.isComplete {
            available = min(bytes.count, available + pieceSize)
            let window = Array(bytes[offset..<available])
            offset += try window.withUnsafeBufferPointer { buffer throws(RequestParsingError) in try decoder.decode(buffer) }
        }
        return (String(decoding: decoder.body, as: UTF8.self), offset, decoder.isComplete)
    }

    @Test func decodesChunksWithExtensionsAndTrailers() throws {
        let result = try decode("5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nNEXT")
        #expect(result.body == "hello world")
        #expect(result.complete)
        #expect(result.consumed == "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n".utf8.count)
    }

    @Test func decodesWhenBytesArriveOneAtATime() throws {
        let result = try decode("3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n", pieceSize: 1)
        #expect(result.body == "abc0123456789")
        #expect(result.complete)
    }

    @Test(arguments: [
        "x\r\nabc\r\n0\r\n\r\n",                 // not hex
        "\r\nabc\r\n0\r\n\r\n",                  // empty size
        "-3\r\nabc\r\n0\r\n\r\n",
        "3\r\nabcd\r\n0\r\n\r\n",                // more data than the size
        "3 x\r\nabc\r\n0\r\n\r\n",
        "fffffffffffffffff\r\n",                 // overflow
    ])
    func refusesBadChunkSizes(text: String) {
        #expect(throws: RequestParsingError.self) { try decode(text) }
    }

    @Test func refusesBodiesOverTheLimit() {
        do {
            _ = try decode("a\r\n0123456789\r\n0\r\n\r\n", maxBody: 5)
            Issue.record("expected 413")
        } catch {
            #expect(error.status == .contentTooLarge)
        }
    }
}
