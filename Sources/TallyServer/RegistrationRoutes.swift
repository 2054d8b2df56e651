import Cryptography
import Foundation
import HTTP
import Labeling
import Storage

/// How labelers apply (InstructGPT appendix B.1: applicants take a screening test before they
/// see real work):
///
/// | route | who |
/// |---|---|
/// | `GET /api/registration` | anyone: whether applying is open, and whether it needs a code |
/// | `PUT /api/registration` | admin: the mode (closed, open, invite) and the screening test |
/// | `POST /api/applicants` | anyone, while registration is open (rate-limited per address) |
/// | `GET /api/invites`, `POST /api/invites`, `DELETE /api/invites/{id}` | admin |
struct RegistrationRoutes: Sendable {
    let database: DatabasePool
    let authenticator: Authenticator
    let passwordHasher: PasswordHasher
    let sessionStarter: SessionStarter
    /// Counts every application from an address, granted or not: what it limits is how fast
    /// one client can create accounts or guess invite codes.
    let applicationLimiter: LoginRateLimiter
    private let registration = RegistrationRepository()
    private let audit = AuditLog()

    struct PolicyChange: Decodable { let mode: RegistrationMode; let screeningTestId: Int? }
    struct PublicPolicy: Encodable { let mode: RegistrationMode; let inviteCodeNeeded: Bool; let screeningTestId: Int? }
    struct Application: Decodable { let username: String; let displayName: String?; let password: String; let inviteCode: String? }
    struct NewInvite: Decodable { let note: String?; let usesAllowed: Int?; let validDays: Int? }
    struct CreatedInvite: Encodable { let invite: InviteCode; let code: String }
    struct InviteList: Encodable { let invites: [InviteCode] }

    func register(in router: inout Router) {
        let routes = self
        router.get("/api/registration") { _ in
            let policy = try routes.database.read { try routes.registration.policy(in: $0) }
            return try .json(PublicPolicy(mode: policy.mode, inviteCodeNeeded: policy.mode == .invite, screeningTestId: policy.screeningTestId))
        }
        router.put("/api/registration", authenticator.require([.admin]) { request, signedIn in
            let body = try request.decodeJSON(PolicyChange.self)
            let policy = try routes.database.write { database -> RegistrationPolicy in
                let policy = try routes.registration.setPolicy(mode: body.mode, screeningTestID: body.screeningTestId, updatedBy: signedIn.user.id, in: database)
                try routes.audit.record(action: "registration.update", actorUserID: signedIn.user.id, subject: "registration",
                                        detail: "mode=\(body.mode.rawValue) test=\(body.screeningTestId.map(String.init) ?? "none")",
                                        remoteAddress: request.clientAddress, in: database)
                return policy
            }
            return try .json(policy)
        })
        router.post("/api/applicants") { request in try routes.apply(request) }
        router.get("/api/invites", authenticator.require([.admin]) { _, _ in
            try .json(InviteList(invites: try routes.database.read { try routes.registration.invites(in: $0) }))
        })
        router.post("/api/invites", authenticator.require([.admin]) { request, signedIn in
            let body = try request.decodeJSON(NewInvite.self)
            // Ten random bytes: short enough to type, too many to guess.
            let code = SecureRandom.token(byteCount: 10)
            let invite = try routes.database.write { database -> InviteCode in
                let invite = try routes.registration.createInvite(codeHash: SHA256.hexDigest(code), note: body.note ?? "", usesAllowed: body.usesAllowed ?? 1,
                                                                  validDays: body.validDays ?? 14, createdBy: signedIn.user.id, in: database)
                try routes.audit.record(action: "invite.create", actorUserID: signedIn.user.id, subject: "invite:\(invite.id)", detail: invite.note,
                                        remoteAddress: request.clientAddress, in: database)
                return invite
            }
            return try .json(CreatedInvite(invite: invite, code: code), status: .created)
        })
        router.delete("/api/invites/{id}", authenticator.require([.admin]) { request, signedIn in
            let id = try pathIdentifier(request)
            try routes.database.write { database in
                try routes.registration.revokeInvite(id: id, in: database)
                try routes.audit.record(action: "invite.revoke", actorUserID: signedIn.user.id, subject: "invite:\(id)", remoteAddress: request.clientAddress, in: database)
            }
            return Response(status: .noContent)
        })
    }

    /// Registers an applicant (a labeler who must pass screening before working) and signs them
    /// in. The user, the use of the invite code and the session are written in one transaction.
    private func apply(_ request: Request) throws -> Response {
        let keys = ["apply:" + request.clientAddress]
        if let wait = applicationLimiter.retryAfter(keys: keys) {
            throw HTTPError(.tooManyRequests, code: "too_many_applications", message: "Too many applications from this address; try again in \(wait) seconds.",
                            headers: HTTPHeaders([("Retry-After", String(wait))]))
        }
        applicationLimiter.recordFailure(keys: keys)
        let body = try request.decodeJSON(Application.self)
        if let problem = PasswordRules.problem(password: body.password, username: body.username) {
            throw HTTPError.badRequest("field 'password' \(problem).", code: "invalid_field")
        }
        let policy = try database.read { try registration.policy(in: $0) }
        switch policy.mode {
        case .closed:
            throw HTTPError.forbidden("Registration is closed; ask an admin for an account.")
        case .invite:
            guard let code = body.inviteCode?.trimmingCharacters(in: .whitespaces), !code.isEmpty else {
                throw HTTPError.badRequest("field 'inviteCode' is needed: registration is by invitation.", code: "invalid_field")
            }
        case .open:
            break
        }
        let hash = passwordHasher.hash(body.password)
        do {
            return try sessionStarter.start(request, status: .created, action: "applicant.register") { database in
                var invite: Int?
                if policy.mode == .invite, let code = body.inviteCode?.trimmingCharacters(in: .whitespaces) {
                    invite = try registration.redeemInvite(codeHash: SHA256.hexDigest(code), in: database)
                }
                let user = try UserRepository().create(username: body.username, displayName: body.displayName, role: .labeler, status: .applicant,
                                                       passwordHash: hash, in: database)
                try audit.record(action: "user.create", actorUserID: user.id, subject: "user:\(user.id)",
                                 detail: "applicant" + (invite.map { " invite=\($0)" } ?? ""), remoteAddress: request.clientAddress, in: database)
                return user
            }
        } catch let error as AccountError {
            throw HTTPError(error.isConflict ? .conflict : .badRequest, code: error.code, message: error.description)
        } catch let error as LabelingError {
            throw HTTPError(.forbidden, code: "invalid_invite_code", message: error.description)
        }
    }
}
