/// Limits on what a client may send before its content; each has a safe default.
public struct RequestHeadLimits: Sendable {
    /// Longest request line (method, target, version). Longer: 414 URI Too Long.
    public var maxRequestLineBytes = 8 * 1024
    /// Most bytes of request line and header fields together. More: 431.
    public var maxHeaderBytes = 16 * 1024
    /// Most header fields. More: 431.
    public var maxHeaderCount = 100

    public init() {}
}

/// What parsing the bytes received so far produced.
enum HeadParseResult {
    /// The head is not complete yet: read more.
    case incomplete
    /// A complete head, and how many bytes of the input it took.
    case complete(RequestHead, consumedBytes: Int)
}

/// Parses the request line and header fields (RFC 9112 sections 2 to 5) from bytes that may
/// arrive a few at a time. It remembers how far it has looked for the end of the head, so a
/// client that trickles bytes costs linear time, not quadratic.
struct RequestHeadParser {
    let limits: RequestHeadLimits
    private var scannedBytes = 0

    init(limits: RequestHeadLimits) { self.limits = limits }

    /// Forgets the progress of the last search, for the next request on the connection.
    mutating func reset() { scannedBytes = 0 }

    mutating func parse(_ input: UnsafeBufferPointer<UInt8>) throws(RequestParsingError) -> HeadParseResult {
        // RFC 9112 section 2.2: a server should ignore empty lines received before the request line.
        var start = 0
        while start < input.count, input[start] == .carriageReturn || input[start] == .lineFeed { start += 1 }
        if start > limits.maxHeaderBytes { throw .badRequest("Too many empty lines before the request line.") }
        guard let headEnd = findEndOfHead(input, from: start) else {
            try checkLimitsOfIncompleteHead(input, from: start)
            return .incomplete
        }
        if headEnd.contentStart - start > limits.maxHeaderBytes {
            throw RequestParsingError(.requestHeaderFieldsTooLarge, "The request head is larger than \(limits.maxHeaderBytes) bytes.")
        }
        let lines = splitLines(UnsafeBufferPointer(rebasing: input[start..<headEnd.lastLineEnd]))
        let head = try parseLines(lines)
        return .complete(head, consumedBytes: headEnd.contentStart)
    }

    // MARK: Finding the head

    private struct HeadEnd {
        /// Index just past the last header line's terminator, before the empty line.
        let lastLineEnd: Int
        /// Index of the first byte after the empty line: where content begins.
        let contentStart: Int
    }

    /// Finds the empty line that ends the head. Lines end in CRLF; a bare LF is accepted too
    /// (RFC 9112 section 2.2 allows it), a bare CR is rejected later.
    private mutating func findEndOfHead(_ input: UnsafeBufferPointer<UInt8>, from start: Int) -> HeadEnd? {
        var index = max(start, scannedBytes - 3)
        while index < input.count {
            if input[index] == .lineFeed {
                let next = index + 1
                if next < input.count, input[next] == .lineFeed {
                    return HeadEnd(lastLineEnd: next, contentStart: next + 1)
                }
                if next + 1 < input.count, input[next] == .carriageReturn, input[next + 1] == .lineFeed {
                    return HeadEnd(lastLineEnd: next, contentStart: next + 2)
                }
            }
            index += 1
        }
        scannedBytes = input.count
        return nil
    }

    private func checkLimitsOfIncompleteHead(_ input: UnsafeBufferPointer<UInt8>, from start: Int) throws(RequestParsingError) {
        let received = input.count - start
        let firstLineEnd = UnsafeBufferPointer(rebasing: input[start...]).firstIndex(of: .lineFeed)
        if firstLineEnd == nil, received > limits.maxRequestLineBytes {
            throw RequestParsingError(.uriTooLong, "The request line is longer than \(limits.maxRequestLineBytes) bytes.")
        }
        if received > limits.maxHeaderBytes {
            throw RequestParsingError(.requestHeaderFieldsTooLarge, "The request head is larger than \(limits.maxHeaderBytes) bytes.")
        }
    }

    private func splitLines(_ head: UnsafeBufferPointer<UInt8>) -> [UnsafeBufferPointer<UInt8>] {
        var lines: [UnsafeBufferPointer<UInt8>] = []
        var lineStart = 0
        for index in 0..<head.count where head[index] == .lineFeed {
            var lineEnd = index
            if lineEnd > lineStart, head[lineEnd - 1] == .carriageReturn { lineEnd -= 1 }
            lines.append(UnsafeBufferPointer(rebasing: head[lineStart..<lineEnd]))
            lineStart = index + 1
        }
        return lines
    }

    // MARK: Request line and fields

    private func parseLines(_ lines: [UnsafeBufferPointer<UInt8>]) throws(RequestParsingError) -> RequestHead {
        guard let requestLine = lines.first else { throw .badRequest("The request line is missing.") }
        if requestLine.count > limits.maxRequestLineBytes {
            throw RequestParsingError(.uriTooLong, "The request line is longer than \(limits.maxRequestLineBytes) bytes.")
        }
        let (method, target, version) = try parseRequestLine(requestLine)
        let headers = try parseFields(lines.dropFirst())
        let framing = try bodyFraming(headers: headers, version: version)
        if version == .http11 {
            let hosts = headers.values(for: "Host")
            guard hosts.count == 1 else {
                throw .badRequest(hosts.isEmpty ? "An HTTP/1.1 request must have a Host header." : "The request has more than one Host header.")
            }
        }
        let connectionOptions = headers.listElements(for: "Connection")
        let keepAlive = version == .http11 ? !connectionOptions.contains("close") : connectionOptions.contains("keep-alive")
        var expectsContinue = false
        if let expectation = headers["Expect"] {
            guard expectation.lowercased() == "100-continue" else {
                throw RequestParsingError(.expectationFailed, "Only 'Expect: 100-continue' is supported, not '\(expectation)'.")
            }
            expectsContinue = version == .http11
        }
        let (path, segments, query) = try decodeTarget(target)
        return RequestHead(method: method, target: target, path: path, pathSegments: segments, query: query,
                           version: version, headers: headers, framing: framing, keepAlive: keepAlive,
                           expectsContinue: expectsContinue)
    }

    private func parseRequestLine(_ line: UnsafeBufferPointer<UInt8>) throws(RequestParsingError) -> (HTTPMethod, String, HTTPVersion) {
        let parts = line.split(separator: .space, maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw .badRequest("The request line must be 'METHOD TARGET HTTP/1.1' with single spaces.")
        }
        guard parts[0].allSatisfy(\.isTokenCharacter) else { throw .badRequest("The method is not a valid token.") }
        let methodName = String(decoding: parts[0], as: UTF8.self)
        let versionText = String(decoding: parts[2], as: UTF8.self)
        let version: HTTPVersion
        switch versionText {
        case "HTTP/1.1": version = .http11
        case "HTTP/1.0": version = .http10
        default:
            let bytes = Array(parts[2].utf8Bytes)
            if bytes.count == 8, versionText.hasPrefix("HTTP/"), bytes[5].isDigit, bytes[6] == UInt8(ascii: "."), bytes[7].isDigit {
                throw RequestParsingError(.httpVersionNotSupported, "\(versionText) is not supported; speak HTTP/1.1.")
            }
            throw .badRequest("'\(versionText)' is not an HTTP version.")
        }
        guard let method = HTTPMethod(rawValue: methodName) else {
            throw RequestParsingError(.notImplemented, "The method \(methodName) is not implemented.")
        }
        guard parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw .badRequest("The request target has a character that must be percent-encoded.")
        }
        return (method, String(decoding: parts[1], as: UTF8.self), version)
    }

    private func parseFields(_ lines: ArraySlice<UnsafeBufferPointer<UInt8>>) throws(RequestParsingError) -> HTTPHeaders {
        var headers = HTTPHeaders()
        if lines.count > limits.maxHeaderCount {
            throw RequestParsingError(.requestHeaderFieldsTooLarge, "The request has more than \(limits.maxHeaderCount) header fields.")
        }
        for line in lines {
            if let first = line.first, first == .space || first == .tab {
                // Obsolete line folding (RFC 9112 section 5.2): replace the fold with a space.
                let continuation = try fieldValue(UnsafeBufferPointer(rebasing: line[0...]))
                guard headers.appendToLastValue(continuation) else {
                    throw .badRequest("A folded header line has no field before it.")
                }
                continue
            }
            guard let colon = line.firstIndex(of: .colon) else {
                throw .badRequest("The header line '\(String(decoding: line.prefix(40), as: UTF8.self))' has no colon.")
            }
            let name = UnsafeBufferPointer(rebasing: line[..<colon])
            // No whitespace is allowed between the field name and the colon (RFC 9112 section 5.1).
            guard !name.isEmpty, name.allSatisfy(\.isTokenCharacter) else {
                throw .badRequest("The header name '\(String(decoding: name.prefix(40), as: UTF8.self))' is not a valid token.")
            }
            let value = try fieldValue(UnsafeBufferPointer(rebasing: line[(colon + 1)...]))
            headers.add(name: String(decoding: name, as: UTF8.self), value: value)
        }
        return headers
    }

    private func fieldValue(_ bytes: UnsafeBufferPointer<UInt8>) throws(RequestParsingError) -> String {
        var start = 0, end = bytes.count
        while start < end, bytes[start] == .space || bytes[start] == .tab { start += 1 }
        while end > start, bytes[end - 1] == .space || bytes[end - 1] == .tab { end -= 1 }
        let value = UnsafeBufferPointer(rebasing: bytes[start..<end])
        // Control characters other than tab (a bare CR, NUL) are never valid in a field value.
        guard value.allSatisfy({ $0 >= 0x20 && $0 != 0x7f || $0 == .tab }) else {
            throw .badRequest("A header value holds a control character.")
        }
        return String(decoding: value, as: UTF8.self)
    }

    /// RFC 9112 section 6.3. A request with both Content-Length and Transfer-Encoding is the
    /// classic request-smuggling vector: refused, never guessed at.
    private func bodyFraming(headers: HTTPHeaders, version: HTTPVersion) throws(RequestParsingError) -> BodyFraming {
        let transferCodings = headers.listElements(for: "Transfer-Encoding")
        let lengths = headers.values(for: "Content-Length")
        if headers.contains("Transfer-Encoding") {
            guard lengths.isEmpty else {
                throw .badRequest("The request has both Content-Length and Transfer-Encoding.")
            }
            guard version == .http11 else { throw .badRequest("Transfer-Encoding is not allowed in HTTP/1.0.") }
            guard transferCodings.last == "chunked" else {
                if transferCodings.isEmpty { throw .badRequest("The Transfer-Encoding header is empty.") }
                throw RequestParsingError(.notImplemented, "The transfer coding '\(transferCodings.joined(separator: ", "))' is not implemented; use chunked.")
            }
            guard transferCodings.count == 1 else {
                throw RequestParsingError(.notImplemented, "Only the chunked transfer coding is implemented, not '\(transferCodings.joined(separator: ", "))'.")
            }
            return .chunked
        }
        guard !lengths.isEmpty else { return .none }
        // Repeated lengths are allowed only when every one is the same (RFC 9110 section 8.6).
        let elements = lengths.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() } }
        guard let first = elements.first, elements.allSatisfy({ $0 == first }),
              !first.isEmpty, first.utf8.count <= 18, first.utf8.allSatisfy(\.isDigit), let length = Int(first) else {
            throw .badRequest("The Content-Length '\(lengths.joined(separator: ", "))' is not one non-negative integer.")
        }
        return length == 0 ? .none : .contentLength(length)
    }

    private func decodeTarget(_ target: String) throws(RequestParsingError) -> (String, [String], [QueryItem]) {
        var target = Substring(target)
        if target == "*" { return ("*", [], []) }
        if target.utf8.first != UInt8(ascii: "/") {
            // Absolute form (RFC 9112 section 3.2.2): keep the path and query, drop scheme and authority.
            for scheme in ["http://", "https://"] where target.lowercased().hasPrefix(scheme) {
                let afterScheme = target.dropFirst(scheme.count)
                target = afterScheme.firstIndex(of: "/").map { afterScheme[$0...] } ?? "/"
            }
        }
        guard target.utf8.first == UInt8(ascii: "/") else { throw .badRequest("The request target must start with '/'.") }
        guard !target.utf8.contains(UInt8(ascii: "#")) else { throw .badRequest("The request target must not hold a fragment ('#').") }
        let rawPath: Substring
        let rawQuery: Substring?
        if let questionMark = target.firstIndex(of: "?") {
            rawPath = target[..<questionMark]
            rawQuery = target[target.index(after: questionMark)...]
        } else {
            rawPath = target
            rawQuery = nil
        }
        guard let path = PercentEncoding.decode(rawPath) else {
            throw .badRequest("The path has invalid percent-encoding.")
        }
        var segments: [String] = []
        for rawSegment in rawPath.split(separator: "/") {
            guard let segment = PercentEncoding.decode(rawSegment) else { throw .badRequest("The path has invalid percent-encoding.") }
            segments.append(segment)
        }
        var query: [QueryItem] = []
        for pair in rawQuery?.split(separator: "&") ?? [] {
            let equals = pair.firstIndex(of: "=")
            let rawName = equals.map { pair[..<$0] } ?? pair
            let rawValue = equals.map { pair[pair.index(after: $0)...] } ?? ""
            guard let name = PercentEncoding.decode(rawName, plusAsSpace: true),
                  let value = PercentEncoding.decode(rawValue, plusAsSpace: true) else {
                throw .badRequest("The query string has invalid percent-encoding.")
            }
            query.append(QueryItem(name: name, value: value))
        }
        return (path, segments, query)
    }
}

extension UInt8 {
    static let carriageReturn = UInt8(ascii: "\r")
    static let lineFeed = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let colon = UInt8(ascii: ":")

    var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }

    /// tchar of RFC 9110 section 5.6.2.
    var isTokenCharacter: Bool { UInt8.tokenCharacters[Int(self)] }

    private static let tokenCharacters: [Bool] = (0..<256).map { value in
        let byte = UInt8(value)
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}

extension Slice where Base == UnsafeBufferPointer<UInt8> {
    var utf8Bytes: Slice<UnsafeBufferPointer<UInt8>> { self }
}
