import Cryptography
import Foundation
import Glibc

/// One outgoing TCP connection, plain or TLS, on a non-blocking socket: every connect, write
/// and read waits in poll(2) no longer than the request's deadline, so a server that stops
/// answering costs the caller its timeout and no more.
final class ClientConnection {
    private let descriptor: Int32
    private let tls: TLSSession?
    private let deadline: Date
    private let address: String

    /// Connects to `host:port` (each address the name resolves to in turn), and for TLS shakes
    /// hands and checks the certificate, all before `deadline`.
    init(host: String, port: Int, tls context: TLSClientContext?, deadline: Date) throws(HTTPClientError) {
        self.deadline = deadline
        address = "\(host):\(port)"
        descriptor = try Self.connect(host: host, port: port, deadline: deadline)
        guard let context else {
            tls = nil
            return
        }
        do {
            tls = try context.makeSession(fileDescriptor: descriptor, host: host)
        } catch {
            close(descriptor)
            throw HTTPClientError(.tls, "\(error)")
        }
        do {
            try shakeHands()
        } catch {
            close(descriptor)
            throw error
        }
    }

    deinit {
        tls?.shutdown()
        close(descriptor)
    }

    private static func connect(host: String, port: Int, deadline: Date) throws(HTTPClientError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &results)
        guard status == 0, let first = results else {
            throw HTTPClientError(.unreachable, "the host name \(host) does not resolve (\(String(cString: gai_strerror(status))))")
        }
        defer { freeaddrinfo(results) }
        var failure = HTTPClientError(.unreachable, "nothing accepts connections at \(host):\(port)")
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let address = candidate {
            candidate = address.pointee.ai_next
            let descriptor = socket(address.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard descriptor >= 0 else { continue }
            var one: Int32 = 1
            setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.connect(descriptor, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 { return descriptor }
            guard errno == EINPROGRESS else {
                failure = HTTPClientError(.unreachable, "connecting to \(host):\(port): \(String(cString: strerror(errno)))")
                close(descriptor)
                continue
            }
            guard Self.wait(descriptor, for: Int16(POLLOUT), until: deadline) else {
                close(descriptor)
                throw HTTPClientError(.timedOut, "connecting to \(host):\(port) timed out")
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length)
            if error == 0 { return descriptor }
            failure = HTTPClientError(.unreachable, "connecting to \(host):\(port): \(String(cString: strerror(error)))")
            close(descriptor)
        }
        throw failure
    }

    /// Waits until the socket is ready for `events` or the deadline passes (false).
    private static func wait(_ descriptor: Int32, for events: Int16, until deadline: Date) -> Bool {
        while true {
            let milliseconds = Int32(max(0, min(Double(Int32.max), deadline.timeIntervalSinceNow * 1000)))
            guard milliseconds > 0 else { return false }
            var entry = pollfd(fd: descriptor, events: events, revents: 0)
            let result = poll(&entry, 1, milliseconds)
            if result > 0 { return true }
            if result == 0 { return false }
            if errno != EINTR { return true }
        }
    }

    private func waitOrTimeOut(for events: Int16, _ doing: String) throws(HTTPClientError) {
        guard Self.wait(descriptor, for: events, until: deadline) else { throw HTTPClientError(.timedOut, "\(doing) \(address) timed out") }
    }

    private func shakeHands() throws(HTTPClientError) {
        guard let tls else { return }
        while true {
            switch tls.handshake() {
            case .transferred: return
            case .wantRead: try waitOrTimeOut(for: Int16(POLLIN), "the TLS handshake with")
            case .wantWrite: try waitOrTimeOut(for: Int16(POLLOUT), "the TLS handshake with")
            case .closed: throw HTTPClientError(.tls, "\(address) closed the connection during the TLS handshake")
            case .failed(let reason):
                let why = tls.verificationFailure.map { "its certificate was refused: \($0)" } ?? reason
                throw HTTPClientError(.tls, "TLS with \(address) failed: \(why)")
            }
        }
    }

    func write(_ bytes: [UInt8]) throws(HTTPClientError) {
        var sent = 0
        while sent < bytes.count {
            let result: TLSTransferResult = bytes.withUnsafeBytes { buffer in
                let rest = UnsafeRawBufferPointer(rebasing: buffer[sent...])
                if let tls { return tls.write(rest) }
                let count = send(descriptor, rest.baseAddress, rest.count, Int32(MSG_NOSIGNAL))
                if count >= 0 { return .transferred(count) }
                return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? .wantWrite : .failed(String(cString: strerror(errno)))
            }
            switch result {
            case .transferred(let count): sent += count
            case .wantWrite: try waitOrTimeOut(for: Int16(POLLOUT), "sending the request to")
            case .wantRead: try waitOrTimeOut(for: Int16(POLLIN), "sending the request to")
            case .closed: throw HTTPClientError(.connectionLost, "\(address) closed the connection while the request was sent")
            case .failed(let reason): throw HTTPClientError(.connectionLost, "sending the request to \(address) failed: \(reason)")
            }
        }
    }

    /// Appends what arrives next to `bytes`; false at the end of the stream.
    func read(into bytes: inout [UInt8]) throws(HTTPClientError) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let result: TLSTransferResult = buffer.withUnsafeMutableBytes { buffer in
                if let tls { return tls.read(into: buffer) }
                let count = recv(descriptor, buffer.baseAddress, buffer.count, 0)
                if count > 0 { return .transferred(count) }
                if count == 0 { return .closed }
                return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? .wantRead : .failed(String(cString: strerror(errno)))
            }
            switch result {
            case .transferred(let count):
                bytes += buffer[..<count]
                return true
            case .closed: return false
            case .wantRead: try waitOrTimeOut(for: Int16(POLLIN), "waiting for the response from")
            case .wantWrite: try waitOrTimeOut(for: Int16(POLLOUT), "waiting for the response from")
            case .failed(let reason): throw HTTPClientError(.connectionLost, "reading the response from \(address) failed: \(reason)")
            }
        }
    }
}
