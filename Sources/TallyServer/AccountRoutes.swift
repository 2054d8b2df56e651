import Cryptography
import Foundation
import HTTP
import Labeling
import Storage

/// Signing in and out, API tokens, and account administration:
///
/// | route | who |
/// |---|---|
/// | `POST /api/session` | anyone (rate-limited) |
/// | `GET /api/session`, `DELETE /api/session` | any signed-in user |
/// | `POST /api/tokens` | admin, researcher |
/// | `GET /api/users`, `POST /api/users` | admin |
struct AccountRoutes: Sendable {
    let database: DatabasePool
    let authenticator: Authenticator
    let passwordHasher: PasswordHasher
    let rateLimiter: LoginRateLimiter
    /// Seconds a browser session lasts.
    let sessionLifetime: Int
    private let users = UserRepository()
    private let sessions = SessionRepository()
    private let audit = AuditLog()

    struct SignInRequest: Decodable { let username: String; let password: String }
    typealias SessionResponse = SessionStarter.SessionResponse
    struct TokenRequest: Decodable { let name: String }
    struct TokenResponse: Encodable { let id: Int; let name: String; let token: String }
    struct NewUserRequest: Decodable { let username: String; let displayName: String?; let role: Role; let password: String }
    struct UserList: Encodable { let users: [User] }

    func register(in router: inout Router) {
        let routes = self
        // Signing in checks the origin too: a page elsewhere must not sign a browser in as its own account.
        router.post("/api/session") { request in
            try Authenticator.checkSameOrigin(request)
            return try routes.signIn(request)
        }
        // Applicants have sessions too: they sign in to take the screening test.
        router.get("/api/session", authenticator.require(Set(Role.allCases), statuses: [.active, .applicant]) { request, signedIn in
            try .json(SessionResponse(user: signedIn.user, csrfToken: signedIn.session?.csrfToken, expiresAt: signedIn.session?.expiresAt))
        })
        router.delete("/api/session", authenticator.require(Set(Role.allCases), statuses: [.active, .applicant]) { request, signedIn in try routes.signOut(request, signedIn) })
        router.post("/api/tokens", authenticator.require([.admin, .researcher]) { request, signedIn in try routes.createToken(request, signedIn) })
        router.get("/api/users", authenticator.require([.admin]) { _, _ in
            try .json(UserList(users: try routes.database.read { try routes.users.all(in: $0) }))
        })
        router.post("/api/users", authenticator.require([.admin]) { request, signedIn in try routes.createUser(request, signedIn) })
        router.patch("/api/users/{id}", authenticator.require([.admin]) { request, signedIn in try routes.updateUser(request, signedIn) })
    }

    private func signIn(_ request: Request) throws -> Response {
        let body = try request.decodeJSON(SignInRequest.self)
        let keys = ["user:" + body.username.lowercased(), "address:" + request.clientAddress]
        if let wait = rateLimiter.retryAfter(keys: keys) {
            throw HTTPError(.tooManyRequests, code: "too_many_sign_in_attempts",
                            message: "Too many failed sign-ins; try again in \(wait) seconds.",
                            headers: HTTPHeaders([("Retry-After", String(wait))]))
        }
        let credentials = try database.read { try users.credentials(username: body.username, in: $0) }
        // Verify even for unknown users, so timing does not tell which usernames exist.
        let storedHash = credentials?.passwordHash ?? Self.unknownUserHash
        guard passwordHasher.verify(body.password, against: storedHash), let user = credentials?.user else {
            rateLimiter.recordFailure(keys: keys)
            try database.write {
                try audit.record(action: "sign_in.failed", actorUserID: credentials?.user.id, subject: "username:\(body.username)",
                                 remoteAddress: request.clientAddress, in: $0)
            }
            throw HTTPError(.unauthorized, code: "wrong_credentials", message: "The username or the password is wrong.")
        }
        guard user.status == .active || user.status == .applicant else {
            throw HTTPError.forbidden("This account is \(user.status.rawValue).")
        }
        rateLimiter.recordSuccess(keys: keys)
        return try SessionStarter(database: database, sessionLifetime: sessionLifetime).start(request) { _ in user }
    }

    private func signOut(_ request: Request, _ signedIn: SignedInUser) throws -> Response {
        try database.write { database in
            if let session = signedIn.session { try sessions.delete(id: session.id, in: database) }
            try audit.record(action: "sign_out", actorUserID: signedIn.user.id, remoteAddress: request.clientAddress, in: database)
        }
        var response = Response(status: .noContent)
        response.headers.add(name: "Set-Cookie", value: SessionStarter.cookie("", maxAge: 0, secure: request.isSecure))
        return response
    }

    private func createToken(_ request: Request, _ signedIn: SignedInUser) throws -> Response {
        let body = try request.decodeJSON(TokenRequest.self)
        let name = body.name.trimmingCharacters(in: .whitespaces)
        guard (1...100).contains(name.count) else { throw HTTPError.badRequest("field 'name' must have 1 to 100 characters.", code: "invalid_field") }
        let token = "tally_" + SecureRandom.token()
        let id = try database.write { database -> Int in
            let id = try sessions.createAPIToken(userID: signedIn.user.id, name: name, tokenHash: SHA256.hexDigest(token), in: database)
            try audit.record(action: "api_token.create", actorUserID: signedIn.user.id, subject: "api_token:\(id)", detail: name,
                             remoteAddress: request.clientAddress, in: database)
            return id
        }
        return try .json(TokenResponse(id: id, name: name, token: token), status: .created)
    }

    private func createUser(_ request: Request, _ signedIn: SignedInUser) throws -> Response {
        let body = try request.decodeJSON(NewUserRequest.self)
        if let problem = PasswordRules.problem(password: body.password, username: body.username) {
            throw HTTPError.badRequest("field 'password' \(problem).", code: "invalid_field")
        }
        let hash = passwordHasher.hash(body.password)
        do {
            let user = try database.write { database -> User in
                let user = try users.create(username: body.username, displayName: body.displayName, role: body.role, passwordHash: hash, in: database)
                try audit.record(action: "user.create", actorUserID: signedIn.user.id, subject: "user:\(user.id)",
                                 detail: "role=\(body.role.rawValue)", remoteAddress: request.clientAddress, in: database)
                return user
            }
            return try .json(user, status: .created)
        } catch let error as AccountError {
            throw HTTPError(error.isConflict ? .conflict : .badRequest, code: error.code, message: error.description)
        }
    }

    struct UserUpdate: Decodable {
        let status: UserStatus?
        let labelerGroup: LabelerGroup?
        let note: String?
    }

    /// An admin suspends, reactivates, accepts or rejects a user, or moves a labeler between the
    /// training and held-out groups; audit-logged with the admin's note.
    private func updateUser(_ request: Request, _ signedIn: SignedInUser) throws -> Response {
        let id = try pathIdentifier(request)
        let body = try request.decodeJSON(UserUpdate.self)
        guard body.status != nil || body.labelerGroup != nil else {
            throw HTTPError.badRequest("Send 'status' (\(UserStatus.allCases.map(\.rawValue).joined(separator: ", "))) or 'labelerGroup' (training, held_out).", code: "invalid_field")
        }
        guard id != signedIn.user.id || body.status == nil || body.status == .active else {
            throw HTTPError(.conflict, code: "conflict", message: "An admin cannot suspend or reject their own account.")
        }
        let user = try database.write { database -> User? in
            guard let user = try users.update(id: id, status: body.status, labelerGroup: body.labelerGroup, in: database) else { return nil }
            let detail = [body.status.map { "status=\($0.rawValue)" }, body.labelerGroup.map { "group=\($0.rawValue)" }, body.note.map { "note=\($0)" }]
                .compactMap { $0 }.joined(separator: " ")
            try audit.record(action: "user.update", actorUserID: signedIn.user.id, subject: "user:\(id)", detail: detail,
                             remoteAddress: request.clientAddress, in: database)
            return user
        }
        guard let user else { throw HTTPError.notFound("There is no user \(id).") }
        return try .json(user)
    }

    /// A well-formed hash of no one's password, verified against when the username is unknown.
    private static let unknownUserHash = PasswordHasher(iterations: PasswordHasher.defaultIterations).hash(SecureRandom.token())
}
