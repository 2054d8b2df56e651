import Cryptography
import Datasets
import Foundation
import HTTP
import JSON
import Labeling
import Storage

/// The labeler's day: queues that hand out assignments, skipping, submissions, writing prompts,
/// and the home page's summary.
///
/// | route | who |
/// |---|---|
/// | `GET /api/projects/{id}/next-ranking` | labeler |
/// | `GET /api/projects/{id}/next-demonstration` | labeler |
/// | `POST /api/assignments/{id}/skip` | labeler |
/// | `POST /api/prompts/{id}/rankings` | labeler |
/// | `POST /api/prompts/{id}/demonstrations` | labeler |
/// | `POST /api/projects/{id}/prompts` | labeler (a written prompt), admin, researcher (through the API) |
/// | `GET /api/me/work` | labeler |
///
/// Asking a queue for the next task hands out an assignment (or resumes the one the labeler
/// holds), so the GETs are repeatable: asking again gives the same task in the same order.
struct QueueRoutes: Sendable {
    let database: DatabasePool
    let submissions: GroupCommit
    let authenticator: Authenticator

    struct Task: Encodable {
        let project: Project
        let assignment: Assignment?
        let prompt: ProjectRoutes.PromptView?
        /// Items of the project this labeler can still take in this queue, this one included.
        let remaining: Int
    }
    struct Created: Encodable { let id: Int }
    struct PromptStored: Encodable { let id: Int; let created: Bool; let candidatesAdded: Int }
    struct Skip: Decodable { let reason: String }

    /// What a labeler may send when writing a prompt; researchers may also send the rest of a
    /// JSONL line (split, metadata, candidates).
    static let labelerPromptFields: Set<String> = ["prompt", "category"]

    func register(in router: inout Router) {
        let routes = self
        for kind in TaskKind.allCases {
            router.get("/api/projects/{id}/next-\(kind.rawValue)", authenticator.require([.labeler]) { request, signedIn in
                try .json(try routes.nextTask(kind, projectID: try pathIdentifier(request), labelerID: signedIn.user.id))
            })
        }
        router.post("/api/assignments/{id}/skip", authenticator.require([.labeler]) { request, signedIn in
            let id = try pathIdentifier(request)
            let body = try request.decodeJSON(Skip.self)
            try routes.submissions.write { try AssignmentRepository().skip(assignmentID: id, labelerID: signedIn.user.id, reason: body.reason, in: $0) }
            return Response(status: .noContent)
        })
        // Runs on the event loop (short reads only) and answers when the group commit has made
        // the ranking durable, so no thread waits for the disk.
        router.post("/api/prompts/{id}/rankings", mayBlock: false, authenticator.require([.labeler]) { request, signedIn in
            let id = try pathIdentifier(request)
            let submission = try request.decodeJSON(RankingSubmission.self)
            let labelerID = signedIn.user.id
            let checked = try routes.database.read { try RankingRepository().check(submission, promptID: id, in: $0) }
            return .deferred { respond in
                routes.submissions.write({ try RankingRepository().store(checked, labelerID: labelerID, in: $0) }) { stored in
                    respond(Result { try .json(Created(id: try stored.get()), status: .created) })
                }
            }
        })
        router.post("/api/prompts/{id}/demonstrations", authenticator.require([.labeler]) { request, signedIn in
            let id = try pathIdentifier(request)
            let submission = try request.decodeJSON(DemonstrationSubmission.self)
            let demonstrationID = try routes.submissions.write { try DemonstrationRepository().submit(submission, promptID: id, labelerID: signedIn.user.id, in: $0) }
            return try .json(Created(id: demonstrationID), status: .created)
        })
        router.post("/api/projects/{id}/prompts", authenticator.require([.labeler, .researcher, .admin]) { request, signedIn in
            try routes.writePrompt(request, author: signedIn.user)
        })
        router.get("/api/me/work", authenticator.require([.labeler]) { _, signedIn in
            try .json(try routes.database.read { try LabelerWork.compute(labelerID: signedIn.user.id, in: $0) })
        })
    }

    /// The labeler's task from the `kind` queue of the project. Handing out an assignment is a
    /// write, so it goes through the group commit with the submissions.
    private func nextTask(_ kind: TaskKind, projectID: Int, labelerID: Int) throws -> Task {
        try submissions.write { database in
            guard let project = try ProjectRepository().find(id: projectID, in: database) else { throw HTTPError.notFound("There is no project \(projectID).") }
            let queue = AssignmentRepository()
            guard let assignment = try queue.next(kind, project: project, labelerID: labelerID, in: database),
                  let prompt = try PromptRepository().find(id: assignment.promptId, in: database) else {
                return Task(project: project, assignment: nil, prompt: nil, remaining: 0)
            }
            var candidates = prompt.candidates
            if let order = assignment.shownOrder {
                let byID = Dictionary(uniqueKeysWithValues: candidates.map { ($0.id, $0) })
                candidates = order.compactMap { byID[$0] }
            }
            // Demonstration tasks carry the candidates too, as suggestions to start from.
            return Task(project: project, assignment: assignment, prompt: ProjectRoutes.view(prompt, candidates: candidates),
                        remaining: try queue.remaining(kind, project: project, labelerID: labelerID, in: database))
        }
    }

    /// A prompt written by a labeler (InstructGPT's labeler-written prompts), or sent by a
    /// researcher's script. A prompt the project holds already is a conflict, not a copy.
    private func writePrompt(_ request: Request, author: User) throws -> Response {
        let projectID = try pathIdentifier(request)
        let record = try request.jsonBody()
        let isLabeler = author.role == .labeler
        var prompt = try PromptImporter().parseOne(record, source: isLabeler ? "labeler" : "api",
                                                   allowedFields: isLabeler ? Self.labelerPromptFields : PromptImporter.knownFields)
        prompt.authorID = author.id
        let stored = try submissions.write { database in
            guard try ProjectRepository().find(id: projectID, in: database) != nil else { throw LabelingError("there is no project \(projectID)", kind: .notFound) }
            let result = try PromptRepository().insert(prompt, projectID: projectID, in: database)
            if !result.created && isLabeler { throw LabelingError("the project holds this prompt already (prompt \(result.id))", kind: .conflict) }
            return result
        }
        // Through the API, sending a known prompt again adds the candidates it lacks.
        return try .json(PromptStored(id: stored.id, created: stored.created, candidatesAdded: stored.candidatesAdded),
                         status: stored.created ? .created : .ok)
    }
}
