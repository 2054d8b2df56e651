import Datasets
import Foundation
import HTTP
import Labeling
import Storage

/// Datasets out of a project, streamed, each with its manifest (see Docs/formats.md):
///
/// | route | who |
/// |---|---|
/// | `GET /api/projects/{id}/exports/{format}` | admin, researcher |
/// | `GET /api/projects/{id}/exports/{format}/manifest` | admin, researcher |
/// | `GET /api/projects/{id}/exports/{format}/dataset` (a Hugging Face dataset folder as a tar archive) | admin, researcher |
///
/// Query parameters filter what is exported: `split`, `group`, `since`, `until`, `minimumAgreement`, `ties=only`;
/// and shape it: `form=text|conversational`, `margin=rank-distance|strength` (Docs/formats.md).
struct ExportRoutes: Sendable {
    let database: DatabasePool
    let authenticator: Authenticator

    func register(in router: inout Router) {
        let routes = self
        router.get("/api/projects/{id}/exports/{format}", authenticator.require([.admin, .researcher]) { request, _ in
            let (id, format, filter, tiesOnly, options) = try routes.exportRequest(request)
            let cursor = ExportCursor(format, projectID: id, filter: filter, tiedPairsOnly: tiesOnly, options: options)
            var response = Response.stream(contentType: format.contentType, ExportSource(cursor: cursor, database: routes.database))
            response.headers["Content-Disposition"] = "attachment; filename=\"project-\(id)-\(format.rawValue)\(tiesOnly ? "-ties" : "").\(format.fileExtension)\""
            return response
        })
        router.get("/api/projects/{id}/exports/{format}/dataset", authenticator.require([.admin, .researcher]) { request, _ in
            let (id, format, filter, _, options) = try routes.exportRequest(request, allowed: Self.datasetQueryParameters)
            let heldOutApart: Bool
            switch request.queryValue("heldOutLabelersApart") {
            case nil, "false": heldOutApart = false
            case "true": heldOutApart = true
            default: throw HTTPError.badRequest("The query parameter 'heldOutLabelersApart' must be true or false.", code: "invalid_query")
            }
            let license = request.queryValue("license") ?? "other"
            guard license.wholeMatch(of: /[A-Za-z0-9.+-]{1,64}/) != nil else {
                throw HTTPError.badRequest("The query parameter 'license' must be an SPDX id such as cc-by-4.0, or other.", code: "invalid_query")
            }
            let name = "project-\(id)-\(format.rawValue)"
            let staging = NSTemporaryDirectory() + "/tally-dataset-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
            let folder = DatasetFolder(format: format, projectID: id, filter: filter, options: options, heldOutLabelersApart: heldOutApart, license: license)
            do {
                _ = try routes.database.read { try folder.write(to: staging + "/" + name, in: $0) }
            } catch let refusal as DatasetFolder.Refusal {
                try? FileManager.default.removeItem(atPath: staging)
                throw HTTPError.badRequest("No dataset folder: \(refusal.description).", code: "invalid_query")
            } catch {
                try? FileManager.default.removeItem(atPath: staging)
                throw error
            }
            var response = Response.stream(contentType: "application/x-tar", try DatasetArchiveSource(folder: staging + "/" + name, name: name, removing: staging))
            response.headers["Content-Disposition"] = "attachment; filename=\"\(name).tar\""
            return response
        })
        router.get("/api/projects/{id}/exports/{format}/manifest", authenticator.require([.admin, .researcher]) { request, _ in
            let (id, format, filter, tiesOnly, options) = try routes.exportRequest(request)
            let manifest = try routes.database.read { database in
                try RankingExporter.export(format, projectID: id, filter: filter, tiedPairsOnly: tiesOnly, options: options, from: database) { _ in }
            }
            return try .json(manifest)
        })
    }

    /// The project, format and filter of an export request. Without `until`, the filter is bound
    /// to now, and the manifest echoes it: repeating the request with that `until` gives the same
    /// bytes, whatever was submitted since.
    private func exportRequest(_ request: Request, allowed: Set<String> = queryParameters) throws -> (Int, ExportFormat, RankingFilter, Bool, ExportOptions) {
        let id = try pathIdentifier(request)
        guard let name = request.pathParameters["format"], let format = ExportFormat(rawValue: name) else {
            throw HTTPError.notFound("There is no export format '\(request.pathParameters["format"] ?? "")'; use \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        guard try database.read({ try ProjectRepository().find(id: id, in: $0) }) != nil else { throw HTTPError.notFound("There is no project \(id).") }
        try checkQueryNames(request, allowed: allowed, what: allowed == Self.queryParameters ? "an export" : "a dataset folder")
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
            guard let date = ExportTime.parse(value) else {
                throw HTTPError.badRequest("The query parameter '\(name)' must be an ISO 8601 time such as 2026-01-31T00:00:00Z, not '\(value)'.", code: "invalid_query")
            }
            // Written as the database writes times (milliseconds, Z), so they compare as text.
            filter[keyPath: keyPath] = ExportTime.format(date)
        }
        if filter.until == nil {
            // The database's clock, as it wrote the submission times (same rounding), one
            // millisecond ahead so that what was submitted in this millisecond is in.
            filter.until = try database.read { try $0.queryScalarText("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+0.001 seconds')") }
        }
        if let text = request.queryValue("minimumAgreement") {
            guard let minimum = Double(text), (0...1).contains(minimum) else {
                throw HTTPError.badRequest("The query parameter 'minimumAgreement' must be a number from 0 to 1.", code: "invalid_query")
            }
            filter.minimumAgreement = minimum
            filter.labelerIds = try database.read { try QualityReport.labelers(projectID: id, agreementAtLeast: minimum, in: $0) }.sorted()
        }
        let ties = request.queryValue("ties")
        guard ties == nil || ties == "only" else { throw HTTPError.badRequest("The query parameter 'ties' may only be 'only'.", code: "invalid_query") }
        return (id, format, filter, ties == "only", try exportOptions(request, projectID: id))
    }

    static let queryParameters: Set<String> = ["split", "group", "since", "until", "minimumAgreement", "ties", "form", "margin"]
    /// A dataset folder holds every split, one file each, and no tie-only file.
    static let datasetQueryParameters: Set<String> = ["group", "since", "until", "minimumAgreement", "form", "margin", "heldOutLabelersApart", "license"]

    /// The prompt form (`form=text|conversational`, default: conversational when the project
    /// holds a conversation prompt) and the margin (`margin=rank-distance|strength`, default none).
    private func exportOptions(_ request: Request, projectID: Int) throws -> ExportOptions {
        var options = ExportOptions()
        let hasConversations = try database.read { try ExportOptions.defaultPromptForm(projectID: projectID, in: $0) } == .conversational
        if let name = request.queryValue("form") {
            guard let form = PromptForm(rawValue: name) else {
                throw HTTPError.badRequest("The query parameter 'form' must be text or conversational.", code: "invalid_query")
            }
            guard !(form == .text && hasConversations) else {
                throw HTTPError.badRequest("The project holds conversation prompts, which have no text form; export with form=conversational.", code: "invalid_query")
            }
            options.promptForm = form
        } else {
            options.promptForm = hasConversations ? .conversational : .text
        }
        if let name = request.queryValue("margin") {
            guard let scale = MarginScale(rawValue: name) else {
                throw HTTPError.badRequest("The query parameter 'margin' must be rank-distance or strength (the margin TRL's RewardTrainer puts in its loss).", code: "invalid_query")
            }
            if scale == .strength {
                let missing = try database.read { try ExportOptions.rankingsWithoutStrength(projectID: projectID, in: $0) }
                guard missing == 0 else {
                    throw HTTPError.badRequest("margin=strength needs a strength on every ranking, and \(missing) of this project's rankings have none (rated-and-ranked, or imported without a margin); export with margin=rank-distance or without a margin.", code: "invalid_query")
                }
            }
            options.margin = scale
        }
        return options
    }
}

/// An export as a streamed response: each piece is one page of the cursor, read in a short read
/// transaction of its own when the client has taken the last, so a download that stalls holds
/// neither a thread nor a database connection (the filter's `until` keeps the pages one set).
struct ExportSource: ResponseBodySource {
    let cursor: ExportCursor
    let database: DatabasePool

    func nextPiece(_ deliver: @escaping @Sendable (Result<[UInt8]?, any Error>) -> Void) {
        deliver(Result { try database.read { try cursor.nextPage(in: $0) } })
    }
}
