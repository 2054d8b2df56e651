import Cryptography
import Glibc

/// What one read or write on a connection did.
enum TransferResult {
    case transferred(Int)
    /// Nothing can move until the socket is readable (or, with `writable`, writable) again.
    case wouldBlock(writable: Bool)
    case closed
    case failed(String)
}

/// The byte stream under HTTP: a plain socket, or TLS over one.
protocol Transport {
    var isSecure: Bool { get }
    func read(into buffer: UnsafeMutableRawBufferPointer) -> TransferResult
    func write(_ buffer: UnsafeRawBufferPointer) -> TransferResult
    /// Ends the sending direction, so the peer reads end-of-stream after the last response.
    func shutdownOutput()
}

struct PlainTransport: Transport {
    let descriptor: Int32
    var isSecure: Bool { false }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> TransferResult {
        while true {
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if count > 0 { return .transferred(count) }
            if count == 0 { return .closed }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock(writable: false)
            case ECONNRESET: return .closed
            default: return .failed(SocketError("read").description)
            }
        }
    }

    func write(_ buffer: UnsafeRawBufferPointer) -> TransferResult {
        while true {
            // MSG_NOSIGNAL: a peer that went away must give EPIPE, not kill the process.
            let count = send(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
            if count >= 0 { return .transferred(count) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock(writable: true)
            case EPIPE, ECONNRESET: return .closed
            default: return .failed(SocketError("send").description)
            }
        }
    }

    func shutdownOutput() { _ = Glibc.shutdown(descriptor, Int32(SHUT_WR)) }
}

struct TLSTransport: Transport {
    let descriptor: Int32
    let session: TLSSession
    var isSecure: Bool { true }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> TransferResult {
        convert(session.read(into: buffer))
    }

    func write(_ buffer: UnsafeRawBufferPointer) -> TransferResult {
        convert(session.write(buffer))
    }

    func shutdownOutput() {
        session.shutdown()
        _ = Glibc.shutdown(descriptor, Int32(SHUT_WR))
    }

    private func convert(_ result: TLSTransferResult) -> TransferResult {
        switch result {
        case .transferred(let count): return .transferred(count)
        case .wantRead: return .wouldBlock(writable: false)
        case .wantWrite: return .wouldBlock(writable: true)
        case .closed: return .closed
        case .failed(let reason): return .failed(reason)
        }
    }
}
