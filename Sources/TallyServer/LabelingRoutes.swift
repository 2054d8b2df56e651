import Datasets
import Foundation
import HTTP
import JSON
import Labeling
import Storage

/// Projects, prompt imports, rankings and the comparisons export:
///
/// | route | who |
/// |---|---|
/// | `GET /api/projects` | any signed-in user |
/// | `POST /api/projects` | admin, researcher |
/// | `POST /api/projects/{id}/imports/prompts` (JSONL body, up to 256 MiB) | admin, researcher |
/// | `POST /api/projects/{id}/imports/comparisons` (TRL JSONL) | admin, researcher |
/// | `GET /api/prompts/{id}` | any signed-in user |
/// | `POST /api/prompts/{id}/rankings` | labeler |
/// | `GET /api/projects/{id}/exports/comparisons` (streamed JSONL) | admin, researcher |
struct LabelingRoutes: Sendable {
    let database: DatabasePool
    let submissions: GroupCommit
    let authenticator: Authenticator
    static let maximumImportBytes = 256 << 20

    struct ProjectList: Encodable { let projects: [Project] }
    struct PromptView: Encodable {
        let id: Int
        let projectId: Int
        let prompt: JSONValue
        let category: String?
        let split: String
        let candidates: [Candidate]
    }
    struct RankingCreated: Encodable { let id: Int }
    struct RankingTask: Encodable {
        let project: Project
        let prompt: PromptView
        /// Prompts of the project this labeler can still rank, this one included.
        let remaining: Int
    }
    struct NoTask: Encodable { let project: Project; let prompt: PromptView?; let remaining: Int }
    struct ImportProblems: Encodable { let error: Detail; struct Detail: Encodable { let code: String; let message: String; let problems: [ImportProblem]; let truncated: Bool } }

    func register(in router: inout Router) {
        let routes = self
        let everyone = Set(Role.allCases)
        router.get("/api/projects", authenticator.require(everyone) { _, _ in
            try .json(ProjectList(projects: try routes.database.read { try ProjectRepository().all(in: $0) }))
        })
        router.post("/api/projects", authenticator.require([.admin, .researcher]) { request, signedIn in
            let body = try request.decodeJSON(NewProject.self)
            let project = try routes.labeling { try routes.database.write { try ProjectRepository().create(body, createdBy: signedIn.user.id, in: $0) } }
            return try .json(project, status: .created)
        })
        router.post("/api/projects/{id}/imports/prompts", maxBodyBytes: Self.maximumImportBytes, authenticator.require([.admin, .researcher]) { request, _ in
            try routes.importPrompts(request)
        })
        router.post("/api/projects/{id}/imports/comparisons", maxBodyBytes: Self.maximumImportBytes, authenticator.require([.admin, .researcher]) { request, _ in
            let id = try routes.identifier(request)
            guard try routes.database.read({ try ProjectRepository().find(id: id, in: $0) }) != nil else { throw HTTPError.notFound("There is no project \(id).") }
            do {
                let summary = try routes.database.write { database in
                    try ComparisonImporter().importComparisons(request.body, fileName: request.queryValue("file") ?? "upload.jsonl", projectID: id, in: database)
                }
                return try .json(summary)
            } catch let rejected as ImportRejected {
                return try .json(ImportProblems(error: .init(code: "invalid_import", message: "Nothing was imported: \(rejected.problems.count) problem(s) found.",
                                                             problems: rejected.problems, truncated: rejected.truncated)), status: .unprocessableContent)
            } catch let error as LabelingError {
                throw HTTPError(.conflict, code: "conflict", message: "Nothing was imported: \(error.description).")
            }
        })
        router.get("/api/prompts/{id}", authenticator.require(everyone) { request, _ in
            let id = try routes.identifier(request)
            guard let prompt = try routes.database.read({ try PromptRepository().find(id: id, in: $0) }) else { throw HTTPError.notFound("There is no prompt \(id).") }
            return try .json(Self.view(prompt, candidates: prompt.candidates))
        })
        router.get("/api/projects/{id}/statistics", authenticator.require([.admin, .researcher]) { request, _ in
            let id = try routes.identifier(request)
            guard let statistics = try routes.database.read({ try ProjectStatistics.compute(projectID: id, in: $0) }) else {
                throw HTTPError.notFound("There is no project \(id).")
            }
            return try .json(statistics)
        })
        router.get("/api/projects/{id}/next-demonstration", authenticator.require([.labeler]) { request, signedIn in
            let projectID = try routes.identifier(request)
            return try routes.database.read { database in
                guard let project = try ProjectRepository().find(id: projectID, in: database) else { throw HTTPError.notFound("There is no project \(projectID).") }
                let next = try DemonstrationRepository().nextPromptID(projectID: projectID, labelerID: signedIn.user.id, overlap: project.overlap, in: database)
                guard let promptID = next.id, let prompt = try PromptRepository().find(id: promptID, in: database) else {
                    return try .json(NoTask(project: project, prompt: nil, remaining: 0))
                }
                // The candidates come along as suggestions the labeler may start from.
                return try .json(RankingTask(project: project, prompt: Self.view(prompt, candidates: prompt.candidates), remaining: next.remaining))
            }
        })
        router.post("/api/prompts/{id}/demonstrations", authenticator.require([.labeler]) { request, signedIn in
            let id = try routes.identifier(request)
            let submission = try request.decodeJSON(DemonstrationSubmission.self)
            let demonstrationID = try routes.labeling {
                try routes.submissions.write { try DemonstrationRepository().submit(submission, promptID: id, labelerID: signedIn.user.id, in: $0) }
            }
            return try .json(RankingCreated(id: demonstrationID), status: .created)
        })
        router.get("/api/projects/{id}/next-ranking", authenticator.require([.labeler]) { request, signedIn in
            try routes.nextRanking(request, labelerID: signedIn.user.id)
        })
        // Runs on the event loop (short reads only) and answers when the group commit has made
        // the ranking durable, so no thread waits for the disk.
        router.post("/api/prompts/{id}/rankings", mayBlock: false, authenticator.require([.labeler]) { request, signedIn in
            let id = try routes.identifier(request)
            let submission = try request.decodeJSON(RankingSubmission.self)
            let labelerID = signedIn.user.id
            let checked = try routes.labeling { try routes.database.read { try RankingRepository().check(submission, promptID: id, in: $0) } }
            let submissions = routes.submissions
            return .deferred { respond in
                submissions.write({ try RankingRepository().store(checked, labelerID: labelerID, in: $0) }) { result in
                    do {
                        let rankingID = try routes.labeling { try result.get() }
                        respond(try .json(RankingCreated(id: rankingID), status: .created))
                    } catch let error as HTTPError {
                        respond(error.response)
                    } catch {
                        respond(HTTPError(.internalServerError, code: "internal_error", message: "The ranking could not be stored: \(error)").response)
                    }
                }
            }
        })
        router.get("/api/projects/{id}/exports/{format}", authenticator.require([.admin, .researcher]) { request, _ in
            let (id, format, filter, tiesOnly) = try routes.exportRequest(request)
            let database = routes.database
            var response = Response.stream(contentType: format.contentType) { writer in
                // One read transaction: the export is one consistent snapshot, and labelers'
                // submissions go on meanwhile (WAL).
                try database.read { database in
                    _ = try RankingExporter().export(format, projectID: id, filter: filter, tiedPairsOnly: tiesOnly, from: database) { try writer.write($0) }
                }
            }
            response.headers["Content-Disposition"] = "attachment; filename=\"project-\(id)-\(format.rawValue)\(tiesOnly ? "-ties" : "").\(format.fileExtension)\""
            return response
        })
        router.get("/api/projects/{id}/exports/{format}/manifest", authenticator.require([.admin, .researcher]) { request, _ in
            let (id, format, filter, tiesOnly) = try routes.exportRequest(request)
            let manifest = try routes.database.read { database in
                try RankingExporter().export(format, projectID: id, filter: filter, tiedPairsOnly: tiesOnly, from: database) { _ in }
            }
            return try .json(manifest)
        })
    }

    /// The labeler's next ranking task in the project: a prompt with at least two candidates
    /// that this labeler has not ranked and fewer labelers than the project's overlap have.
    /// Candidates come in an order shuffled per labeler and prompt (seeded, so a reload shows the
    /// same order), and the client sends back the order it showed.
    private func nextRanking(_ request: Request, labelerID: Int) throws -> Response {
        let projectID = try identifier(request)
        return try database.read { database in
            guard let project = try ProjectRepository().find(id: projectID, in: database) else { throw HTTPError.notFound("There is no project \(projectID).") }
            let open = """
                FROM prompts p WHERE p.project_id = ?
                  AND (SELECT count(*) FROM candidates c WHERE c.prompt_id = p.id) >= 2
                  AND NOT EXISTS (SELECT 1 FROM rankings r WHERE r.prompt_id = p.id AND r.labeler_id = ?)
                  AND (SELECT count(*) FROM rankings r WHERE r.prompt_id = p.id) < ?
                """
            let remaining = try database.queryScalarInt("SELECT count(*) " + open, [projectID, labelerID, project.overlap]) ?? 0
            guard let promptID = try database.queryScalarInt("SELECT p.id " + open + " ORDER BY p.id LIMIT 1", [projectID, labelerID, project.overlap]),
                  let prompt = try PromptRepository().find(id: promptID, in: database) else {
                return try .json(NoTask(project: project, prompt: nil, remaining: 0))
            }
            var generator = ShuffleGenerator(seed: UInt64(labelerID) << 32 | UInt64(promptID))
            let shuffled = prompt.candidates.shuffled(using: &generator)
            return try .json(RankingTask(project: project, prompt: Self.view(prompt, candidates: shuffled), remaining: remaining))
        }
    }

    static func view(_ prompt: StoredPrompt, candidates: [Candidate]) -> PromptView {
        let content: JSONValue
        switch prompt.content {
        case .text(let text): content = .string(text)
        case .conversation(let turns): content = .array(turns.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) })
        }
        return PromptView(id: prompt.id, projectId: prompt.projectID, prompt: content, category: prompt.category, split: prompt.split, candidates: candidates)
    }

    /// The project, format and filter of an export request. Without `until`, the filter is bound
    /// to now, and the manifest echoes it: repeating the request with that `until` gives the same
    /// bytes, whatever was submitted since.
    private func exportRequest(_ request: Request) throws -> (Int, ExportFormat, RankingFilter, Bool) {
        let id = try identifier(request)
        guard let name = request.pathParameters["format"], let format = ExportFormat(rawValue: name) else {
            throw HTTPError.notFound("There is no export format '\(request.pathParameters["format"] ?? "")'; use \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        guard try database.read({ try ProjectRepository().find(id: id, in: $0) }) != nil else { throw HTTPError.notFound("There is no project \(id).") }
        var filter = RankingFilter()
        if let split = request.queryValue("split") {
            guard DataSplit(rawValue: split) != nil else { throw HTTPError.badRequest("The query parameter 'split' must be train, validation or test.", code: "invalid_query") }
            filter.split = split
        }
        if let group = request.queryValue("group") {
            guard LabelerGroup(rawValue: group) != nil else { throw HTTPError.badRequest("The query parameter 'group' must be training or held_out.", code: "invalid_query") }
            filter.labelerGroup = group
        }
        for (name, keyPath) in [("since", \RankingFilter.since), ("until", \RankingFilter.until)] {
            guard let value = request.queryValue(name) else { continue }
            guard let date = (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(value)) ?? (try? Date.ISO8601FormatStyle().parse(value)) else {
                throw HTTPError.badRequest("The query parameter '\(name)' must be an ISO 8601 time such as 2026-01-31T00:00:00Z.", code: "invalid_query")
            }
            // Written as the database writes times (milliseconds, Z), so they compare as text.
            filter[keyPath: keyPath] = date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        }
        if filter.until == nil { filter.until = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)) }
        let ties = request.queryValue("ties")
        guard ties == nil || ties == "only" else { throw HTTPError.badRequest("The query parameter 'ties' may only be 'only'.", code: "invalid_query") }
        return (id, format, filter, ties == "only")
    }

    private func identifier(_ request: Request) throws -> Int {
        guard let text = request.pathParameters["id"], let id = Int(text), id > 0 else {
            throw HTTPError.badRequest("The id in the path must be a positive integer.", code: "invalid_id")
        }
        return id
    }

    /// Runs `body`, answering `LabelingError`s with 400, 404 or 409.
    private func labeling<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as LabelingError {
            switch error.kind {
            case .invalid: throw HTTPError(.badRequest, code: "invalid_field", message: error.description)
            case .notFound: throw HTTPError.notFound(error.description)
            case .conflict: throw HTTPError(.conflict, code: "conflict", message: error.description)
            }
        }
    }

    private func importPrompts(_ request: Request) throws -> Response {
        let id = try identifier(request)
        guard try database.read({ try ProjectRepository().find(id: id, in: $0) }) != nil else { throw HTTPError.notFound("There is no project \(id).") }
        let fileName = request.queryValue("file") ?? "upload.jsonl"
        let importer = PromptImporter()
        let prompts: [NewPrompt]
        do {
            prompts = try importer.parse(request.body, fileName: fileName)
        } catch let rejected as ImportRejected {
            return try .json(ImportProblems(error: .init(code: "invalid_import", message: "Nothing was imported: \(rejected.problems.count) problem(s) found.",
                                                         problems: rejected.problems, truncated: rejected.truncated)), status: .unprocessableContent)
        }
        let summary = try database.write { try importer.store(prompts, projectID: id, in: $0) }
        return try .json(summary)
    }
}

/// SplitMix64 for the per-labeler candidate order: seeded, so the same task shows the same order.
struct ShuffleGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
