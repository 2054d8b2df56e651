/// A response as received: the status, the header fields in order, and the whole body (its
/// chunked transfer coding removed).
public struct HTTPClientResponse: Sendable {
    public let status: Int
    public let headers: [(name: String, value: String)]
    public let body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        (self.status, self.headers, self.body) = (status, headers, body)
    }

    /// The first field named `name`, any case.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Reads a response from the bytes received so far: the head once it is whole, then the body
/// by its length, its chunks, or the end of the connection.
struct HTTPResponseReader {
    struct Head {
        let status: Int
        let headers: [(name: String, value: String)]
        let bodyStart: Int
    }

    /// The head, once `bytes` hold all of it.
    static func head(in bytes: [UInt8]) throws(HTTPClientError) -> Head? {
        guard let end = headEnd(bytes) else {
            if bytes.count > 64 * 1024 { throw HTTPClientError(.badResponse, "the response's head is longer than 64 KiB") }
            return nil
        }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusLine = lines[0].split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]), (100...599).contains(status) else {
            throw HTTPClientError(.badResponse, "the response does not start with an HTTP/1.x status line (\(lines[0].prefix(80)))")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw HTTPClientError(.badResponse, "a response header line has no colon (\(line.prefix(80)))") }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        return Head(status: status, headers: headers, bodyStart: end + 4)
    }

    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }

    /// A chunked body read as it arrives: each call decodes the whole chunks that came since the
    /// last one. Extensions and trailer fields are dropped.
    struct ChunkedStream {
        /// How far into the body the chunks are decoded.
        private var offset = 0
        private var finished = false

        /// The data of the chunks complete in `body` past the last call's, and whether the last
        /// chunk (and the trailer) has come.
        mutating func take(_ body: ArraySlice<UInt8>) throws(HTTPClientError) -> (data: [UInt8], done: Bool) {
            var data: [UInt8] = []
            var index = body.startIndex + offset
            while !finished {
                guard let lineEnd = body[index...].firstIndex(of: 10) else { break }
                let sizeText = String(decoding: body[index..<lineEnd], as: UTF8.self).split(separator: ";").first?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                guard let size = Int(sizeText, radix: 16), size >= 0 else { throw HTTPClientError(.badResponse, "a chunk size is not hexadecimal (\(sizeText.prefix(20)))") }
                if size == 0 {
                    // The trailer must be whole too: its empty line ends the message.
                    var cursor = lineEnd + 1
                    var ended = false
                    while let end = body[cursor...].firstIndex(of: 10) {
                        let isEmpty = end == cursor || (end == cursor + 1 && body[cursor] == 13)
                        cursor = end + 1
                        if isEmpty { ended = true; break }
                    }
                    guard ended else { break }
                    finished = true
                    index = cursor
                    break
                }
                guard body.endIndex - (lineEnd + 1) >= size + 2 else { break }
                data += body[(lineEnd + 1)..<(lineEnd + 1 + size)]
                index = lineEnd + 1 + size + 2
            }
            offset = index - body.startIndex
            return (data, finished)
        }
    }

    /// The body of a chunked response, once `bytes` (what follows the head) hold its last
    /// chunk; nil while it is incomplete. Extensions and trailer fields are dropped.
    static func dechunk(_ bytes: ArraySlice<UInt8>) throws(HTTPClientError) -> [UInt8]? {
        var body: [UInt8] = []
        var index = bytes.startIndex
        while true {
            guard let lineEnd = bytes[index...].firstIndex(of: 10) else { return nil }
            let sizeText = String(decoding: bytes[index..<lineEnd], as: UTF8.self).split(separator: ";").first?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard let size = Int(sizeText, radix: 16), size >= 0 else { throw HTTPClientError(.badResponse, "a chunk size is not hexadecimal (\(sizeText.prefix(20)))") }
            index = lineEnd + 1
            if size == 0 {
                // Trailer fields, then the empty line that ends the message.
                while true {
                    guard let end = bytes[index...].firstIndex(of: 10) else { return nil }
                    let isEmpty = end == index || (end == index + 1 && bytes[index] == 13)
                    index = end + 1
                    if isEmpty { return body }
                }
            }
            guard bytes.endIndex - index >= size + 2 else { return nil }
            body += bytes[index..<(index + size)]
            index += size + 2
        }
    }
}
