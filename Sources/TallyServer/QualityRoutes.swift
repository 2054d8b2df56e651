import HTTP
import Labeling
import Storage

/// Labeler quality (Docs/quality.md):
///
/// | route | who |
/// |---|---|
/// | `GET /api/projects/{id}/quality` | admin, researcher |
///
/// `reviewBelow` (0 to 1, default 0.6) and `minimumPairs` (default 20) choose which labelers are
/// marked for review: those whose agreement, measured on at least that many pairs, is below.
struct QualityRoutes: Sendable {
    let database: DatabasePool
    let authenticator: Authenticator

    func register(in router: inout Router) {
        let routes = self
        router.get("/api/projects/{id}/quality", authenticator.require([.admin, .researcher]) { request, _ in
            let id = try pathIdentifier(request)
            var reviewBelow = 0.6, minimumPairs = 20
            if let text = request.queryValue("reviewBelow") {
                guard let value = Double(text), (0...1).contains(value) else {
                    throw HTTPError.badRequest("The query parameter 'reviewBelow' must be a number from 0 to 1.", code: "invalid_query")
                }
                reviewBelow = value
            }
            if let text = request.queryValue("minimumPairs") {
                guard let value = Int(text), value >= 1 else { throw HTTPError.badRequest("The query parameter 'minimumPairs' must be a positive integer.", code: "invalid_query") }
                minimumPairs = value
            }
            guard let report = try routes.database.read({ try QualityReport.compute(projectID: id, reviewBelow: reviewBelow, minimumPairs: minimumPairs, in: $0) }) else {
                throw HTTPError.notFound("There is no project \(id).")
            }
            return try .json(report)
        })
    }
}
