import COpenSSL

/// An error from OpenSSL, with the library's own description of what failed.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(_ operation: String) {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        description = reasons.isEmpty ? operation : "\(operation): \(reasons.joined(separator: "; "))"
    }
}

/// A server-side TLS configuration: one certificate chain and private key, TLS 1.2 or newer.
///
/// The context is immutable once made and OpenSSL allows sharing it between threads, so one
/// context serves every connection.
public final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer

    /// Loads a PEM certificate chain and its PEM private key, and checks that they belong together.
    public init(certificateChainPath: String, privateKeyPath: String) throws {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw TLSError("SSL_CTX_new") }
        self.context = context
        guard tally_ssl_ctx_set_min_proto_version(context, TLS1_2_VERSION) == 1 else {
            throw TLSError("setting the minimum protocol version to TLS 1.2")
        }
        // Swift arrays may move between a write that wants a retry and the retry itself.
        _ = tally_ssl_ctx_set_mode(context, Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE))
        guard SSL_CTX_use_certificate_chain_file(context, certificateChainPath) == 1 else {
            throw TLSError("loading the certificate chain \(certificateChainPath)")
        }
        guard SSL_CTX_use_PrivateKey_file(context, privateKeyPath, SSL_FILETYPE_PEM) == 1 else {
            throw TLSError("loading the private key \(privateKeyPath)")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError("the private key \(privateKeyPath) does not match the certificate \(certificateChainPath)")
        }
    }

    deinit { SSL_CTX_free(context) }

    /// Starts the server side of a TLS session on a connected, non-blocking socket.
    public func makeSession(fileDescriptor: Int32) throws -> TLSSession {
        ERR_clear_error()
        guard let session = SSL_new(context) else { throw TLSError("SSL_new") }
        guard SSL_set_fd(session, fileDescriptor) == 1 else {
            SSL_free(session)
            throw TLSError("SSL_set_fd")
        }
        SSL_set_accept_state(session)
        return TLSSession(session: session)
    }
}

/// What one TLS read or write did. OpenSSL may need the socket readable even to write (and the
/// reverse) while it completes the handshake, hence the two "want" cases.
public enum TLSTransferResult: Equatable, Sendable {
    case transferred(Int)
    case wantRead
    case wantWrite
    /// The peer closed the session (close_notify or end of stream).
    case closed
    case failed(String)
}

/// One TLS session over one socket. Confined to its connection's event loop: not thread-safe.
public final class TLSSession {
    private let session: OpaquePointer

    init(session: OpaquePointer) { self.session = session }

    deinit { SSL_free(session) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) -> TLSTransferResult {
        ERR_clear_error()
        let count = SSL_read(session, buffer.baseAddress, Int32(buffer.count))
        return count > 0 ? .transferred(Int(count)) : classify(count, operation: "SSL_read")
    }

    public func write(_ buffer: UnsafeRawBufferPointer) -> TLSTransferResult {
        guard buffer.count > 0 else { return .transferred(0) }
        ERR_clear_error()
        let count = SSL_write(session, buffer.baseAddress, Int32(buffer.count))
        return count > 0 ? .transferred(Int(count)) : classify(count, operation: "SSL_write")
    }

    /// Runs the handshake as far as the socket allows (a client calls it until it has
    /// transferred; the server's handshake happens inside its first read).
    public func handshake() -> TLSTransferResult {
        ERR_clear_error()
        let result = SSL_do_handshake(session)
        return result == 1 ? .transferred(0) : classify(result, operation: "the TLS handshake")
    }

    /// Why the peer's certificate was not accepted, when that is why a handshake failed.
    public var verificationFailure: String? {
        let result = SSL_get_verify_result(session)
        guard result != X509_V_OK else { return nil }
        return String(cString: X509_verify_cert_error_string(result))
    }

    /// Sends close_notify; best effort, the socket is closed right after.
    public func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(session)
    }

    private func classify(_ returnCode: Int32, operation: String) -> TLSTransferResult {
        switch SSL_get_error(session, returnCode) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .closed
        case SSL_ERROR_SYSCALL where ERR_peek_error() == 0: return .closed
        default: return .failed(TLSError(operation).description)
        }
    }
}
