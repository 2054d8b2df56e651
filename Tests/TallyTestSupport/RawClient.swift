import Foundation
import Glibc

/// A parsed response as a raw-socket client sees it.
public struct ClientResponse: Sendable {
    public let statusCode: Int
    public let headers: [(String, String)]
    public let body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

public struct ClientError: Error, CustomStringConvertible {
    public let description: String
}

/// A blocking HTTP client over a raw socket, so tests control every byte that is sent.
public final class RawClient {
    public let descriptor: Int32
    private var buffer: [UInt8] = []

    /// - receiveBufferBytes: a small receive buffer (set before connecting, so the TCP window
    ///   stays small) makes a client that stops reading stall the server's writes quickly.
    public init(port: Int, timeoutSeconds: Int = 5, receiveBufferBytes: Int? = nil) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var receiveBufferBytes = receiveBufferBytes.map(Int32.init) {
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &receiveBufferBytes, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(descriptor)
            throw ClientError(description: "connect failed: errno \(errno)")
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(descriptor) }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw ClientError(description: "send failed: errno \(errno)") }
            offset += written
        }
    }

    /// Reads more bytes; false at end of stream.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(descriptor, &chunk, chunk.count, 0)
        if count > 0 {
            buffer.append(contentsOf: chunk[..<count])
            return true
        }
        if count == 0 { return false }
        if errno == ECONNRESET { return false }
        throw ClientError(description: "recv failed or timed out: errno \(errno)")
    }

    private func readLine() throws -> String {
        while true {
            if let index = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(buffer[..<index])
                buffer.removeSubrange(...index)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill() else { throw ClientError(description: "connection closed mid-line") }
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { throw ClientError(description: "connection closed mid-body") }
        }
        let bytes = Array(buffer[..<count])
        buffer.removeSubrange(..<count)
        return bytes
    }

    /// Reads one response; `forHead` skips the body of a HEAD response.
    public func readResponse(forHead: Bool = false) throws -> ClientResponse {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let code = Int(parts[1]) else { throw ClientError(description: "bad status line '\(statusLine)'") }
        var headers: [(String, String)] = []
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            let colon = line.firstIndex(of: ":")!
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let response = ClientResponse(statusCode: code, headers: headers, body: [])
        if forHead || code == 204 || code == 304 || (100..<200).contains(code) { return response }
        if let length = response.header("Content-Length") {
            return ClientResponse(statusCode: code, headers: headers, body: try readExactly(Int(length)!))
        }
        if response.header("Transfer-Encoding") == "chunked" {
            var body: [UInt8] = []
            while true {
                let size = Int(try readLine().split(separator: ";")[0], radix: 16)!
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                body += try readExactly(size)
                _ = try readLine()
            }
            return ClientResponse(statusCode: code, headers: headers, body: body)
        }
        while try fill() {}
        defer { buffer.removeAll() }
        return ClientResponse(statusCode: code, headers: headers, body: buffer)
    }

    /// Half-closes the connection: the server reads the end of the request stream, as from a
    /// client that has sent everything it will send.
    public func finishSending() {
        shutdown(descriptor, Int32(SHUT_WR))
    }

    /// Every byte the server sends until it closes the connection; throws if it neither sends
    /// nor closes within the timeout.
    public func readToEnd() throws -> [UInt8] {
        while try fill() {}
        defer { buffer.removeAll() }
        return buffer
    }

    /// Whether the server has closed the connection (reads end of stream within the timeout).
    public func isClosedByServer() -> Bool {
        do {
            while try fill() {}
            return true
        } catch {
            return false
        }
    }
}
