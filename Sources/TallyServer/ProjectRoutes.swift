import Datasets
import Foundation
import HTTP
import JSON
import Labeling
import Storage

/// Projects, their prompts and imports, and their statistics:
///
/// | route | who |
/// |---|---|
/// | `GET /api/projects` | any signed-in user |
/// | `POST /api/projects` | admin, researcher |
/// | `PATCH /api/projects/{id}` (guidelines, goldRate, promptsWanted, assignmentMinutes) | admin, researcher |
/// | `POST /api/projects/{id}/imports/prompts` (JSONL or CSV body, up to 256 MiB) | admin, researcher |
/// | `POST /api/projects/{id}/imports/comparisons` (TRL JSONL) | admin, researcher |
/// | `GET /api/prompts/{id}` | any signed-in user |
/// | `GET /api/projects/{id}/statistics` | admin, researcher |
/// | `GET /api/models` | admin, researcher: the model versions (the base policy, later the trained ones) |
struct ProjectRoutes: Sendable {
    /// A project's settings that its rankings depend on: changing them under existing labels
    /// would mix rankings made under two rules (a 1-to-7 rating beside a 1-to-5 one, a flag that
    /// means something else), so `PATCH` refuses them by name. Overlap and ranking size change
    /// how many labels are collected, not what a label means: they may change (`ProjectChange`).
    static let fixedProjectSettings: Set<String> = ["id", "name", "ratingMinimum", "ratingMaximum", "flags", "comparisonStyle", "createdAt"]

    let database: DatabasePool
    let authenticator: Authenticator
    static let maximumImportBytes = 256 << 20

    struct ProjectList: Encodable { let projects: [Project] }
    struct ModelList: Encodable { let models: [ModelVersion] }
    struct PromptView: Encodable {
        let id: Int
        let projectId: Int
        let prompt: JSONValue
        let category: String?
        let split: String
        let candidates: [Candidate]
    }
    struct ImportProblems: Encodable { let error: Detail; struct Detail: Encodable { let code: String; let message: String; let problems: [ImportProblem]; let truncated: Bool } }

    func register(in router: inout Router) {
        let routes = self
        let everyone = Set(Role.allCases)
        router.get("/api/projects", authenticator.require(everyone) { _, _ in
            try .json(ProjectList(projects: try routes.database.read { try ProjectRepository().all(in: $0) }))
        })
        router.post("/api/projects", authenticator.require([.admin, .researcher]) { request, signedIn in
            let body = try request.decodeJSON(NewProject.self)
            let project = try routes.database.write { try ProjectRepository().create(body, createdBy: signedIn.user.id, in: $0) }
            return try .json(project, status: .created)
        })
        router.patch("/api/projects/{id}", authenticator.require([.admin, .researcher]) { request, signedIn in
            let id = try pathIdentifier(request)
            let change = try request.decodeJSON(ProjectChange.self, notWritable: Self.fixedProjectSettings)
            let project = try routes.database.write { database -> Project? in
                guard let project = try ProjectRepository().update(id: id, change, in: database) else { return nil }
                let detail = [change.queueOrder.map { "queueOrder=\($0)" }, change.randomShare.map { "randomShare=\($0)" },
                              change.correctionMinutes.map { "correctionMinutes=\($0)" }, change.overlap.map { "overlap=\($0)" }, change.rankingSize.map { "rankingSize=\($0)" }, change.goldRate.map { "goldRate=\($0)" }, change.promptsWanted.map { "promptsWanted=\($0)" },
                              change.assignmentMinutes.map { "assignmentMinutes=\($0)" }, change.retrainAfterRankings.map { "retrainAfterRankings=\($0)" },
                              change.guidelines.map { _ in "guidelines" }, change.demonstrationGuidelines.map { _ in "demonstrationGuidelines" },
                              change.promptGuidelines.map { _ in "promptGuidelines" },
                              change.alarmKlPerAnswer.map { "alarmKlPerAnswer=\($0)" }, change.alarmLengthRatio.map { "alarmLengthRatio=\($0)" },
                              change.alarmEntropyFraction.map { "alarmEntropyFraction=\($0)" },
                              change.alarmRewardHumanGap.map { "alarmRewardHumanGap=\($0)" }, change.alarmPausesJob.map { "alarmPausesJob=\($0)" }]
                try AuditLog().record(action: "project.update", actorUserID: signedIn.user.id, subject: "project:\(id)",
                                      detail: detail.compactMap { $0 }.joined(separator: " "), remoteAddress: request.clientAddress, in: database)
                return project
            }
            guard let project else { throw HTTPError.notFound("There is no project \(id).") }
            return try .json(project)
        })
        router.post("/api/projects/{id}/imports/prompts", maxBodyBytes: Self.maximumImportBytes, authenticator.require([.admin, .researcher]) { request, _ in
            try routes.importPrompts(request)
        })
        router.post("/api/projects/{id}/imports/comparisons", maxBodyBytes: Self.maximumImportBytes, authenticator.require([.admin, .researcher]) { request, _ in
            let id = try pathIdentifier(request)
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
            let id = try pathIdentifier(request)
            guard let prompt = try routes.database.read({ try PromptRepository().find(id: id, in: $0) }) else { throw HTTPError.notFound("There is no prompt \(id).") }
            return try .json(Self.view(prompt, candidates: prompt.candidates))
        })
        router.get("/api/models", authenticator.require([.admin, .researcher]) { _, _ in
            try .json(ModelList(models: try routes.database.read { try ModelVersionRepository().all(in: $0) }))
        })
        router.get("/api/projects/{id}/statistics", authenticator.require([.admin, .researcher]) { request, _ in
            let id = try pathIdentifier(request)
            guard let statistics = try routes.database.read({ try ProjectStatistics.compute(projectID: id, in: $0) }) else {
                throw HTTPError.notFound("There is no project \(id).")
            }
            return try .json(statistics)
        })
    }

    static func view(_ prompt: StoredPrompt, candidates: [Candidate]) -> PromptView {
        PromptView(id: prompt.id, projectId: prompt.projectID, prompt: prompt.content.jsonValue, category: prompt.category, split: prompt.split, candidates: candidates)
    }

    private func importPrompts(_ request: Request) throws -> Response {
        let id = try pathIdentifier(request)
        guard try database.read({ try ProjectRepository().find(id: id, in: $0) }) != nil else { throw HTTPError.notFound("There is no project \(id).") }
        let isCSV = try Self.importIsCSV(request)
        let fileName = request.queryValue("file") ?? (isCSV ? "upload.csv" : "upload.jsonl")
        let importer = PromptImporter()
        let prompts: [NewPrompt]
        do {
            prompts = isCSV ? try importer.parseCSV(request.body, fileName: fileName) : try importer.parse(request.body, fileName: fileName)
        } catch let rejected as ImportRejected {
            return try .json(ImportProblems(error: .init(code: "invalid_import", message: "Nothing was imported: \(rejected.problems.count) problem(s) found.",
                                                         problems: rejected.problems, truncated: rejected.truncated)), status: .unprocessableContent)
        }
        let summary = try database.write { try importer.store(prompts, projectID: id, in: $0) }
        return try .json(summary)
    }

    /// Whether a prompt import is CSV: `format=csv` says so, else a `file` name ending in `.csv`
    /// or a `text/csv` body; anything else is JSONL.
    static func importIsCSV(_ request: Request) throws -> Bool {
        if let format = request.queryValue("format") {
            guard format == "csv" || format == "jsonl" else { throw HTTPError.badRequest("The query parameter 'format' must be jsonl or csv.", code: "invalid_query") }
            return format == "csv"
        }
        if request.queryValue("file")?.lowercased().hasSuffix(".csv") == true { return true }
        return request.headers["Content-Type"]?.lowercased().hasPrefix("text/csv") == true
    }
}
