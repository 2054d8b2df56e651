import COpenSSL

/// A client-side TLS configuration: TLS 1.2 or newer, the peer's certificate verified against
/// the system's trusted certificates (or one CA file, for a private server), and its name
/// checked against the host the client meant to reach.
///
/// Immutable once made and shared between threads, as OpenSSL allows.
public final class TLSClientContext: @unchecked Sendable {
    let context: OpaquePointer

    /// `certificateAuthorityPath` replaces the system's trust store with one PEM file of CA
    /// certificates; nil trusts what the system trusts.
    public init(certificateAuthorityPath: String? = nil) throws {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw TLSError("SSL_CTX_new") }
        self.context = context
        guard tally_ssl_ctx_set_min_proto_version(context, TLS1_2_VERSION) == 1 else {
            throw TLSError("setting the minimum protocol version to TLS 1.2")
        }
        _ = tally_ssl_ctx_set_mode(context, Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE))
        if let certificateAuthorityPath {
            guard SSL_CTX_load_verify_locations(context, certificateAuthorityPath, nil) == 1 else {
                throw TLSError("loading the CA certificates \(certificateAuthorityPath)")
            }
        } else {
            guard SSL_CTX_set_default_verify_paths(context) == 1 else { throw TLSError("loading the system's trusted certificates") }
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
    }

    deinit { SSL_CTX_free(context) }

    /// Starts the client side of a TLS session to `host` on a connected, non-blocking socket:
    /// the name is sent (SNI, for a host name) and the certificate must be issued for it.
    public func makeSession(fileDescriptor: Int32, host: String) throws -> TLSSession {
        ERR_clear_error()
        guard let session = SSL_new(context) else { throw TLSError("SSL_new") }
        guard SSL_set_fd(session, fileDescriptor) == 1 else {
            SSL_free(session)
            throw TLSError("SSL_set_fd")
        }
        let isAddress = host.contains(":") || host.split(separator: ".").allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
        let checked = isAddress
            ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(session), host) == 1
            : tally_ssl_set_server_name(session, host) == 1 && SSL_set1_host(session, host) == 1
        guard checked else {
            SSL_free(session)
            throw TLSError("setting the expected server name \(host)")
        }
        SSL_set_connect_state(session)
        return TLSSession(session: session)
    }
}
