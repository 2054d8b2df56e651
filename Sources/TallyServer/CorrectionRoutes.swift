import Foundation
import HTTP
import JSON
import Labeling
import Storage

/// A labeler's own rankings and demonstrations: their history, one of them as it was given, and
/// its correction.
///
/// | route | who |
/// |---|---|
/// | `GET /api/me/rankings` | labeler: the last 20 rankings in force, newest first, each with until when it may be corrected |
/// | `GET /api/rankings/{id}` | labeler: one of their own rankings (the correction screen's starting point) |
/// | `POST /api/rankings/{id}/corrections` | labeler: a correction, a new ranking that supersedes the old one |
/// | `POST /api/rankings/{id}/withdrawal` | labeler: Undo; the ranking leaves the labels in force and its task is theirs again |
/// | `GET /api/me/demonstrations` | labeler: the last 20 demonstrations in force, newest first, each with until when it may be corrected |
/// | `GET /api/demonstrations/{id}` | labeler: one of their own demonstrations |
/// | `POST /api/demonstrations/{id}/corrections` | labeler: a correction, a new demonstration that supersedes the old one |
struct CorrectionRoutes: Sendable {
    let database: DatabasePool
    let submissions: GroupCommit
    let authenticator: Authenticator

    struct History: Encodable { let rankings: [OwnRanking] }
    struct DemonstrationHistory: Encodable { let demonstrations: [OwnDemonstration] }
    struct Corrected: Encodable { let id: Int; let corrects: Int }
    struct Withdrawn: Encodable { let id: Int; let promptId: Int }

    func register(in router: inout Router) {
        let routes = self
        router.get("/api/me/rankings", authenticator.require([.labeler]) { _, signedIn in
            try .json(History(rankings: try routes.database.read { try RankingCorrections().recent(labelerID: signedIn.user.id, in: $0) }))
        })
        router.get("/api/rankings/{id}", authenticator.require([.labeler]) { request, signedIn in
            let id = try pathIdentifier(request)
            guard let ranking = try routes.database.read({ try RankingCorrections().own(rankingID: id, labelerID: signedIn.user.id, in: $0) }) else {
                throw HTTPError.notFound("You have no ranking \(id).")
            }
            return try .json(ranking)
        })
        router.post("/api/rankings/{id}/corrections", authenticator.require([.labeler]) { request, signedIn in
            let id = try pathIdentifier(request)
            let submission = try request.decodeJSON(RankingSubmission.self)
            let corrected = try routes.submissions.write { database in
                let corrected = try RankingCorrections().correct(rankingID: id, with: submission, labelerID: signedIn.user.id, in: database)
                try AuditLog().record(action: "ranking.correct", actorUserID: signedIn.user.id, subject: "ranking:\(id)",
                                      detail: "corrected by ranking \(corrected)", remoteAddress: request.clientAddress, in: database)
                return corrected
            }
            return try .json(Corrected(id: corrected, corrects: id), status: .created)
        })
        router.get("/api/me/demonstrations", authenticator.require([.labeler]) { _, signedIn in
            try .json(DemonstrationHistory(demonstrations: try routes.database.read { try DemonstrationCorrections().recent(labelerID: signedIn.user.id, in: $0) }))
        })
        router.get("/api/demonstrations/{id}", authenticator.require([.labeler]) { request, signedIn in
            let id = try pathIdentifier(request)
            guard let demonstration = try routes.database.read({ try DemonstrationCorrections().own(demonstrationID: id, labelerID: signedIn.user.id, in: $0) }) else {
                throw HTTPError.notFound("You have no demonstration \(id).")
            }
            return try .json(demonstration)
        })
        router.post("/api/demonstrations/{id}/corrections", authenticator.require([.labeler]) { request, signedIn in
            let id = try pathIdentifier(request)
            let submission = try request.decodeJSON(DemonstrationSubmission.self)
            let corrected = try routes.submissions.write { database in
                let corrected = try DemonstrationCorrections().correct(demonstrationID: id, with: submission, labelerID: signedIn.user.id, in: database)
                try AuditLog().record(action: "demonstration.correct", actorUserID: signedIn.user.id, subject: "demonstration:\(id)",
                                      detail: "corrected by demonstration \(corrected)", remoteAddress: request.clientAddress, in: database)
                return corrected
            }
            return try .json(Corrected(id: corrected, corrects: id), status: .created)
        })
        router.post("/api/rankings/{id}/withdrawal", authenticator.require([.labeler]) { request, signedIn in
            let id = try pathIdentifier(request)
            let promptID = try routes.submissions.write { database in
                let promptID = try RankingCorrections().withdraw(rankingID: id, labelerID: signedIn.user.id, in: database)
                try AuditLog().record(action: "ranking.withdraw", actorUserID: signedIn.user.id, subject: "ranking:\(id)",
                                      detail: "prompt \(promptID)", remoteAddress: request.clientAddress, in: database)
                return promptID
            }
            return try .json(Withdrawn(id: id, promptId: promptID))
        })
    }
}
