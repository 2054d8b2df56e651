/// Serializes a response's status line and header fields (RFC 9112 sections 4 and 5).
enum ResponseHead {
    /// - Parameters:
    ///   - contentLength: the `Content-Length` to send, or nil for a chunked or close-delimited body.
    ///   - chunked: whether to send `Transfer-Encoding: chunked`.
    static func encode(_ response: Response, version: HTTPVersion, contentLength: Int?, chunked: Bool,
                       keepAlive: Bool, into output: inout [UInt8]) {
        output.append(contentsOf: "HTTP/1.1 \(response.status.code) \(response.status.reasonPhrase)\r\n".utf8)
        for field in response.headers {
            // Framing headers are the server's to set, never a handler's.
            if field.hasName("Content-Length") || field.hasName("Transfer-Encoding") || field.hasName("Connection") { continue }
            appendField(field.name, field.value, into: &output)
        }
        appendField("Date", HTTPDate.now(), into: &output)
        if let contentLength { appendField("Content-Length", String(contentLength), into: &output) }
        if chunked { appendField("Transfer-Encoding", "chunked", into: &output) }
        if !keepAlive {
            appendField("Connection", "close", into: &output)
        } else if version == .http10 {
            appendField("Connection", "keep-alive", into: &output)
        }
        output.append(contentsOf: "\r\n".utf8)
    }

    private static func appendField(_ name: String, _ value: String, into output: inout [UInt8]) {
        output.append(contentsOf: name.utf8)
        output.append(contentsOf: ": ".utf8)
        // A handler-supplied value with CR or LF would let it inject header fields.
        if value.utf8.contains(where: { $0 == .carriageReturn || $0 == .lineFeed }) {
            for byte in value.utf8 { output.append(byte == .carriageReturn || byte == .lineFeed ? .space : byte) }
        } else {
            output.append(contentsOf: value.utf8)
        }
        output.append(contentsOf: "\r\n".utf8)
    }
}
