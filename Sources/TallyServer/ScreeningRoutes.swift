import Foundation
import HTTP
import Labeling
import Storage

/// Screening tests, applicants taking them, grading, and decisions (Docs/quality.md):
///
/// | route | who |
/// |---|---|
/// | `GET /api/screening`, `POST /api/screening` | applicant: their test (without gold answers), their answers |
/// | `GET /api/screening-tests`, `POST /api/screening-tests`, `GET /api/screening-tests/{id}` | admin |
/// | `GET /api/screening/demonstrations` | admin: the grading screen's list, blind |
/// | `POST /api/screening-attempts/{id}/grades` | admin |
/// | `GET /api/applicants` | admin: every applicant with every score |
/// | `POST /api/applicants/{id}/decision` | admin: accept into a group, or reject, with a note |
struct ScreeningRoutes: Sendable {
    let database: DatabasePool
    let authenticator: Authenticator
    private let tests = ScreeningTestRepository()
    private let attempts = ScreeningAttemptRepository()
    private let audit = AuditLog()

    struct TestList: Encodable { let tests: [TestSummary] }
    struct TestSummary: Encodable {
        let id: Int
        let name: String
        let itemsByKind: [String: Int]
        let createdAt: String
    }
    struct ApplicantScreening: Encodable { let test: ScreeningTest; let attempt: ScreeningAttempt }
    struct Answers: Decodable { let answers: [ScreeningAnswer] }
    struct Submitted: Encodable { let attempt: ScreeningAttempt; let message: String }
    struct DemonstrationList: Encodable { let demonstrations: [DemonstrationToGrade] }
    struct Grades: Decodable { let grades: [DemonstrationGrade] }
    struct ApplicantList: Encodable { let applicants: [ApplicantSummary] }
    struct Decision: Decodable {
        enum Verdict: String, Decodable { case accept, reject }
        let decision: Verdict
        let labelerGroup: LabelerGroup?
        let note: String
    }

    func register(in router: inout Router) {
        let routes = self
        router.get("/api/screening", authenticator.require([.labeler], statuses: [.applicant]) { _, signedIn in
            try .json(try routes.database.write { try routes.screening(for: signedIn.user, in: $0) })
        })
        router.post("/api/screening", authenticator.require([.labeler], statuses: [.applicant]) { request, signedIn in
            let body = try request.decodeJSON(Answers.self)
            let attempt = try routes.database.write { database -> ScreeningAttempt in
                let screening = try routes.screening(for: signedIn.user, in: database)
                try routes.attempts.submit(body.answers, attempt: screening.attempt, test: screening.test, in: database)
                try routes.audit.record(action: "screening.submit", actorUserID: signedIn.user.id, subject: "screening_attempt:\(screening.attempt.id)",
                                        remoteAddress: request.clientAddress, in: database)
                return try routes.attempts.latest(applicantID: signedIn.user.id, in: database)!
            }
            return try .json(Submitted(attempt: attempt, message: "Thank you. An admin will review your answers and let you know."))
        })
        router.get("/api/screening-tests", authenticator.require([.admin]) { _, _ in
            let all = try routes.database.read { try routes.tests.all(in: $0) }
            return try .json(TestList(tests: all.map { test in
                TestSummary(id: test.id, name: test.name, itemsByKind: Dictionary(grouping: test.items, by: \.kind.rawValue).mapValues(\.count), createdAt: test.createdAt)
            }))
        })
        router.post("/api/screening-tests", authenticator.require([.admin]) { request, signedIn in
            let body = try request.decodeJSON(NewScreeningTest.self)
            let test = try routes.database.write { database -> ScreeningTest in
                let test = try routes.tests.create(body, createdBy: signedIn.user.id, in: database)
                try routes.audit.record(action: "screening_test.create", actorUserID: signedIn.user.id, subject: "screening_test:\(test.id)",
                                        detail: test.name, remoteAddress: request.clientAddress, in: database)
                return test
            }
            return try .json(test, status: .created)
        })
        router.get("/api/screening-tests/{id}", authenticator.require([.admin]) { request, _ in
            let id = try pathIdentifier(request)
            guard let test = try routes.database.read({ try routes.tests.find(id: id, in: $0) }) else { throw HTTPError.notFound("There is no screening test \(id).") }
            return try .json(test)
        })
        router.get("/api/screening/demonstrations", authenticator.require([.admin]) { request, _ in
            let includeGraded = request.queryValue("graded") == "true"
            return try .json(DemonstrationList(demonstrations: try routes.database.read { try routes.attempts.demonstrationsToGrade(includeGraded: includeGraded, in: $0) }))
        })
        router.post("/api/screening-attempts/{id}/grades", authenticator.require([.admin]) { request, signedIn in
            let id = try pathIdentifier(request)
            let body = try request.decodeJSON(Grades.self)
            try routes.database.write { database in
                try routes.attempts.grade(attemptID: id, body.grades, gradedBy: signedIn.user.id, in: database)
                try routes.audit.record(action: "screening.grade", actorUserID: signedIn.user.id, subject: "screening_attempt:\(id)",
                                        detail: body.grades.map { "item=\($0.itemId) grade=\($0.grade)" }.joined(separator: " "),
                                        remoteAddress: request.clientAddress, in: database)
            }
            return Response(status: .noContent)
        })
        router.get("/api/applicants", authenticator.require([.admin]) { _, _ in
            try .json(ApplicantList(applicants: try routes.database.read { try routes.attempts.applicants(in: $0) }))
        })
        router.post("/api/applicants/{id}/decision", authenticator.require([.admin]) { request, signedIn in try routes.decide(request, signedIn) })
    }

    /// The applicant's test and attempt: the attempt they started, or a new one on the test
    /// registration names.
    private func screening(for applicant: User, in database: Database) throws -> ApplicantScreening {
        if let attempt = try attempts.latest(applicantID: applicant.id, in: database), let test = try tests.find(id: attempt.testId, in: database) {
            return ApplicantScreening(test: test.withoutGold, attempt: attempt)
        }
        guard let testID = try RegistrationRepository().policy(in: database).screeningTestId, let test = try tests.find(id: testID, in: database) else {
            throw HTTPError(.conflict, code: "no_screening_test", message: "No screening test is open yet; an admin must choose one.")
        }
        return ApplicantScreening(test: test.withoutGold, attempt: try attempts.start(testID: test.id, applicantID: applicant.id, in: database))
    }

    /// Accepts an applicant into a labeler group (their status becomes active) or rejects them;
    /// the decision and its note are stored on the attempt and in the audit log.
    private func decide(_ request: Request, _ signedIn: SignedInUser) throws -> Response {
        let id = try pathIdentifier(request)
        let body = try request.decodeJSON(Decision.self)
        let note = body.note.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...2000).contains(note.count) else { throw HTTPError.badRequest("field 'note' must say why, in 1 to 2000 characters.", code: "invalid_field") }
        guard body.decision == .accept || body.labelerGroup == nil else {
            throw HTTPError.badRequest("field 'labelerGroup' goes with accepting only.", code: "invalid_field")
        }
        let accepted = body.decision == .accept
        let group = body.labelerGroup ?? .training
        let user = try database.write { database -> User in
            let users = UserRepository()
            guard let applicant = try users.find(id: id, in: database) else { throw LabelingError("there is no user \(id)", kind: .notFound) }
            guard applicant.status == .applicant else {
                throw LabelingError("user \(id) is \(applicant.status.rawValue), not an applicant", kind: .conflict)
            }
            try attempts.decide(applicantID: id, accepted: accepted, note: note, decidedBy: signedIn.user.id, in: database)
            let user = try users.update(id: id, status: accepted ? .active : .rejected, labelerGroup: accepted ? group : nil, in: database)!
            try audit.record(action: accepted ? "applicant.accept" : "applicant.reject", actorUserID: signedIn.user.id, subject: "user:\(id)",
                             detail: (accepted ? "group=\(group.rawValue) " : "") + "note=\(note)", remoteAddress: request.clientAddress, in: database)
            return user
        }
        return try .json(user)
    }
}
