import HTTP
import JSON
import Labeling
import Storage

/// The researcher's data browser: a project's prompts searched and filtered, and everything
/// labelers did with one of them.
///
/// | route | who |
/// |---|---|
/// | `GET /api/projects/{id}/prompts` (`search`, `category`, `split`, `source`, `status`, `gold`, `labeler`, `after`, `limit`) | admin, researcher |
/// | `GET /api/prompts/{id}/labels` | admin, researcher |
struct PromptBrowserRoutes: Sendable {
    let database: DatabasePool
    let authenticator: Authenticator

    static let queryParameters: Set<String> = ["search", "category", "split", "source", "status", "gold", "labeler", "after", "limit"]

    struct PromptPage: Encodable {
        let prompts: [PromptSummary]
        /// The `after` of the next page; nil on the last.
        let next: Int?
    }

    func register(in router: inout Router) {
        let routes = self
        router.get("/api/projects/{id}/prompts", authenticator.require([.admin, .researcher]) { request, _ in
            let id = try pathIdentifier(request)
            let query = try Self.query(request)
            let prompts = try routes.database.read { try PromptBrowser().prompts(projectID: id, query, in: $0) }
            return try .json(PromptPage(prompts: prompts, next: prompts.count == query.limit ? prompts.last?.id : nil))
        })
        router.get("/api/prompts/{id}/labels", authenticator.require([.admin, .researcher]) { request, _ in
            let id = try pathIdentifier(request)
            guard let labels = try routes.database.read({ try PromptBrowser().labels(promptID: id, in: $0) }) else { throw HTTPError.notFound("There is no prompt \(id).") }
            return try .json(labels)
        })
    }

    /// The filters of the query string, each checked: a value the browser does not know is
    /// refused by name rather than read as no filter.
    static func query(_ request: Request) throws -> PromptQuery {
        try checkQueryNames(request, allowed: queryParameters, what: "the prompt list")
        func invalid(_ message: String) -> HTTPError { HTTPError.badRequest(message, code: "invalid_query") }
        var query = PromptQuery()
        if let search = request.queryValue("search"), !search.isEmpty {
            guard search.count <= 1000 else { throw invalid("The query parameter 'search' must have at most 1000 characters.") }
            query.search = search
        }
        if let category = request.queryValue("category") {
            guard PromptCategory(rawValue: category) != nil else {
                throw invalid("The query parameter 'category' must be one of \(PromptCategory.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            query.category = category
        }
        if let split = request.queryValue("split") {
            guard let known = DataSplit(rawValue: split) else { throw invalid("The query parameter 'split' must be train, validation or test.") }
            query.split = known
        }
        if let source = request.queryValue("source") {
            guard ["imported", "labeler", "api", "model"].contains(source) else { throw invalid("The query parameter 'source' must be imported, labeler, api or model.") }
            query.source = source
        }
        if let status = request.queryValue("status") {
            guard let known = PromptStatus(rawValue: status) else {
                throw invalid("The query parameter 'status' must be one of \(PromptStatus.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            query.status = known
        }
        if let gold = request.queryValue("gold") {
            guard gold == "true" || gold == "false" else { throw invalid("The query parameter 'gold' must be true or false.") }
            query.gold = gold == "true"
        }
        if let labeler = request.queryValue("labeler") {
            guard let id = Int(labeler), id > 0 else { throw invalid("The query parameter 'labeler' must be a user id.") }
            query.labelerID = id
        }
        if let after = request.queryValue("after") {
            guard let id = Int(after), id >= 0 else { throw invalid("The query parameter 'after' must be a prompt id (0 or more).") }
            query.after = id
        }
        if let limit = request.queryValue("limit") {
            guard let count = Int(limit), (1...200).contains(count) else { throw invalid("The query parameter 'limit' must be from 1 to 200.") }
            query.limit = count
        }
        return query
    }
}
