import Cryptography
import HTTP
import Labeling
import Storage

/// Opens a browser session for a user who has just proved who they are (signed in, or
/// registered): stores the session, audits it, and answers with the cookie and CSRF token.
struct SessionStarter: Sendable {
    let database: DatabasePool
    /// Seconds a browser session lasts.
    let sessionLifetime: Int
    private let sessions = SessionRepository()
    private let audit = AuditLog()

    struct SessionResponse: Encodable { let user: User; let csrfToken: String?; let expiresAt: String? }

    /// `prepare` runs in the same transaction before the session is stored (registration creates
    /// the user there), so the account and its first session are written together or not at all.
    func start(_ request: Request, status: HTTPStatus = .ok, action: String = "sign_in",
               prepare: (Database) throws -> User) throws -> Response {
        let token = SecureRandom.token()
        let (user, session) = try database.write { database -> (User, Session) in
            let user = try prepare(database)
            let session = try sessions.create(userID: user.id, tokenHash: SHA256.hexDigest(token), csrfToken: SecureRandom.token(),
                                              lifetimeSeconds: sessionLifetime, in: database)
            try audit.record(action: action, actorUserID: user.id, remoteAddress: request.clientAddress, in: database)
            return (user, session)
        }
        var response = try Response.json(SessionResponse(user: user, csrfToken: session.csrfToken, expiresAt: session.expiresAt), status: status)
        response.headers.add(name: "Set-Cookie", value: Self.cookie(token, maxAge: sessionLifetime, secure: request.isSecure))
        response.headers["Cache-Control"] = "no-store"
        return response
    }

    static func cookie(_ token: String, maxAge: Int, secure: Bool) -> String {
        // HttpOnly: scripts cannot read it; SameSite=Strict: other sites' pages do not send it.
        "\(Authenticator.cookieName(secure: secure))=\(token); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }
}
