import Cryptography
import Foundation
import HTTP
import Labeling
import Storage

/// Who is making a request, once `Authenticator` has checked their credentials.
public struct SignedInUser: Sendable {
    public let user: User
    /// The browser session, when the request came with the session cookie.
    public let session: Session?
    /// Whether the request came with an API token (scripts) rather than a cookie.
    public var viaAPIToken: Bool { session == nil }
}

/// Checks credentials and roles. A browser signs in for a session cookie (a random 256-bit
/// token, stored only as its SHA-256); a script sends `Authorization: Bearer <API token>`.
/// Every state-changing request that relies on the cookie must also carry the session's CSRF
/// token in `X-CSRF-Token`: a page on another site can make the browser send the cookie, but
/// cannot read the token.
public struct Authenticator: Sendable {
    public static let cookieName = "tally_session"

    /// The session cookie's name: over TLS with the `__Host-` prefix, which browsers accept only
    /// from a secure origin, for the whole host and no other domain, so that a plain-HTTP page or
    /// a sibling subdomain cannot plant a session of its own.
    public static func cookieName(secure: Bool) -> String { secure ? "__Host-" + cookieName : cookieName }
    public static let csrfHeader = "X-CSRF-Token"
    let database: DatabasePool
    let sessions = SessionRepository()

    /// The signed-in user of `request`, or nil when it carries no credentials. Credentials that
    /// are present but wrong (an expired session, a revoked token) are an error, so a client
    /// learns to sign in again rather than being served as anonymous.
    func signedInUser(for request: Request) throws -> SignedInUser? {
        if let authorization = request.headers["Authorization"] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                throw HTTPError.unauthorized("The Authorization header must be 'Bearer <API token>'.")
            }
            let hash = SHA256.hexDigest(String(parts[1]))
            guard let (tokenID, user, useIsStale) = try database.read({ try sessions.findAPIToken(tokenHash: hash, in: $0) }) else {
                throw HTTPError.unauthorized("The API token is unknown or revoked.")
            }
            if useIsStale { try database.write { try sessions.touchAPIToken(id: tokenID, in: $0) } }
            return SignedInUser(user: user, session: nil)
        }
        guard let token = request.cookies[Self.cookieName(secure: request.isSecure)], !token.isEmpty else { return nil }
        let hash = SHA256.hexDigest(token)
        guard let (session, user) = try database.read({ try sessions.find(tokenHash: hash, in: $0) }) else {
            throw HTTPError.unauthorized("The session has expired; sign in again.")
        }
        return SignedInUser(user: user, session: session)
    }

    /// Wraps `handler` so it runs only for a user whose role is in `roles` and whose status is in
    /// `statuses` (active users, unless the route is for applicants), and, for cookie sessions,
    /// only with the CSRF token on state-changing methods. The handler gets the user as a
    /// second argument.
    public func require(_ roles: Set<Role>, statuses: Set<UserStatus> = [.active],
                        _ handler: @escaping @Sendable (Request, SignedInUser) throws -> Response) -> Handler {
        let authenticator = self
        return { request in
            guard let signedIn = try authenticator.signedInUser(for: request) else { throw HTTPError.unauthorized() }
            guard statuses.contains(signedIn.user.status) else {
                throw HTTPError.forbidden("Your account is \(signedIn.user.status.rawValue); it cannot do this.")
            }
            guard roles.contains(signedIn.user.role) else {
                throw HTTPError.forbidden("This needs the role \(roles.map(\.rawValue).sorted().joined(separator: " or ")); you are a \(signedIn.user.role.rawValue).")
            }
            try authenticator.checkCSRF(request, signedIn)
            return Self.notStored(try handler(request, signedIn))
        }
    }

    /// What a signed-in user is answered is theirs alone: no cache, shared or private, keeps it
    /// (the CSRF token, the user list, gold answers, exports). A response given later gets the
    /// same header when it comes.
    static func notStored(_ response: Response) -> Response {
        var response = response
        if case .deferred(let start) = response.body {
            response.body = .deferred { respond in
                start { result in respond(result.map { notStored($0) }) }
            }
            return response
        }
        response.headers["Cache-Control"] = "no-store"
        return response
    }

    func checkCSRF(_ request: Request, _ signedIn: SignedInUser) throws {
        guard let session = signedIn.session, ![.get, .head, .options].contains(request.method) else { return }
        try Self.checkSameOrigin(request)
        guard let sent = request.headers[Self.csrfHeader],
              ConstantTime.equal(Array(sent.utf8), Array(session.csrfToken.utf8)) else {
            throw HTTPError(.forbidden, code: "csrf_token_missing", message: "Send the session's CSRF token in the \(Self.csrfHeader) header.")
        }
    }
}

extension Authenticator {
    /// Refuses a state-changing browser request that the browser says came from another origin
    /// (another port of the same host included: a same-site page is not this application):
    /// `Sec-Fetch-Site` other than `same-origin` or `none` (a typed address), or an `Origin`
    /// whose host and port are not the request's `Host`. Requests without those headers (curl,
    /// scripts, Bearer tokens) are not browsers' and pass; the CSRF token still guards sessions.
    static func checkSameOrigin(_ request: Request) throws {
        if let site = request.headers["Sec-Fetch-Site"]?.lowercased(), site != "same-origin", site != "none" {
            throw HTTPError(.forbidden, code: "cross_origin", message: "This request came from another site (Sec-Fetch-Site: \(site)); Tally takes changes only from its own pages.")
        }
        guard let origin = request.headers["Origin"] else { return }
        let host = origin.range(of: "://").map { String(origin[$0.upperBound...]) } ?? ""
        guard !host.isEmpty, let expected = request.headers["Host"], host.lowercased() == expected.lowercased() else {
            throw HTTPError(.forbidden, code: "cross_origin", message: "This request came from \(origin), not from this server's own pages.")
        }
    }
}
