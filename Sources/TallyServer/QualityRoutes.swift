import HTTP
import Labeling
import Storage

/// Labeler quality (Docs/quality.md):
///
/// | route | who |
/// |---|---|
/// | `GET /api/projects/{id}/quality` | admin, researcher |
/// | `GET /api/projects/{id}/trends` (labels, labelers, time, agreement and gold agreement per day) | admin, researcher |
/// | `GET`, `PUT`, `DELETE /api/prompts/{id}/gold` (a gold prompt's ranking) | admin, researcher |
/// | `GET /api/projects/{id}/ai-labels` (`model`: the AI labels as TRL conversational comparisons, JSON Lines) | admin, researcher |
/// | `GET /api/projects/{id}/label-checks` (`labeler`, `limit`, `offset`: the rankings the model's check disputes, strongest first) | admin, researcher |
///
/// `reviewBelow` (0 to 1, default 0.6) and `minimumPairs` (default 20) choose which labelers are
/// marked for review: those whose agreement, measured on at least that many pairs, is below.
struct QualityRoutes: Sendable {
    let database: DatabasePool
    let authenticator: Authenticator
    private let gold = GoldAnswerRepository()

    struct GoldAnswer: Codable { let entries: [GoldEntry] }
    struct LabelCheckPage: Encodable { let rankings: [CheckedRanking]; let confidence: Double }

    func register(in router: inout Router) {
        let routes = self
        router.get("/api/projects/{id}/trends", authenticator.require([.admin, .researcher]) { request, _ in
            let id = try pathIdentifier(request)
            try checkQueryNames(request, allowed: [], what: "the trends")
            guard let trends = try routes.database.read({ try LabelingTrends.compute(projectID: id, in: $0) }) else {
                throw HTTPError.notFound("There is no project \(id).")
            }
            return try .json(trends)
        })
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
        router.get("/api/projects/{id}/ai-labels", authenticator.require([.admin, .researcher]) { request, _ in
            let id = try pathIdentifier(request)
            try checkQueryNames(request, allowed: ["model", "endpoint"], what: "the AI labels")
            var judge: AIJudge?
            for (name, what, make) in [("model", "a model version id", AIJudge.model), ("endpoint", "an endpoint id", AIJudge.endpoint)] {
                guard let text = request.queryValue(name) else { continue }
                guard let value = Int(text), value >= 1 else { throw HTTPError.badRequest("The query parameter '\(name)' must be \(what).", code: "invalid_query") }
                guard judge == nil else { throw HTTPError.badRequest("Give 'model' or 'endpoint', not both.", code: "invalid_query") }
                judge = make(value)
            }
            let lines = try routes.database.read { database -> [String]? in
                guard try ProjectRepository().find(id: id, in: database) != nil else { return nil }
                return try AIRankingRepository().comparisonLines(projectID: id, judge: judge, in: database)
            }
            guard let lines else { throw HTTPError.notFound("There is no project \(id).") }
            var response = Response(contentType: "application/jsonl", body: Array(lines.map { $0 + "\n" }.joined().utf8))
            response.headers["Content-Disposition"] = "attachment; filename=\"project-\(id)-ai-labels.jsonl\""
            return response
        })
        router.get("/api/projects/{id}/label-checks", authenticator.require([.admin, .researcher]) { request, _ in
            let id = try pathIdentifier(request)
            try checkQueryNames(request, allowed: ["labeler", "limit", "offset"], what: "the label checks")
            func integer(_ name: String, _ range: ClosedRange<Int>, default value: Int?) throws -> Int? {
                guard let text = request.queryValue(name) else { return value }
                guard let number = Int(text), range.contains(number) else {
                    throw HTTPError.badRequest("The query parameter '\(name)' must be an integer from \(range.lowerBound) to \(range.upperBound).", code: "invalid_query")
                }
                return number
            }
            let labeler = try integer("labeler", 1...Int(Int32.max), default: nil)
            let (limit, offset) = (try integer("limit", 1...200, default: 50)!, try integer("offset", 0...Int(Int32.max), default: 0)!)
            let rankings = try routes.database.read { database -> [CheckedRanking]? in
                guard try ProjectRepository().find(id: id, in: database) != nil else { return nil }
                return try LabelCheckRepository().disagreements(projectID: id, labelerID: labeler, limit: limit, offset: offset, in: database)
            }
            guard let rankings else { throw HTTPError.notFound("There is no project \(id).") }
            return try .json(LabelCheckPage(rankings: rankings, confidence: LabelCheck.confidence))
        })
        router.get("/api/prompts/{id}/gold", authenticator.require([.admin, .researcher]) { request, _ in
            let id = try pathIdentifier(request)
            let entries = try routes.database.read { try routes.gold.entries(promptID: id, in: $0) }
            guard !entries.isEmpty else { throw HTTPError.notFound("Prompt \(id) is not a gold prompt.") }
            return try .json(GoldAnswer(entries: entries))
        })
        router.put("/api/prompts/{id}/gold", authenticator.require([.admin, .researcher]) { request, signedIn in
            let id = try pathIdentifier(request)
            let body = try request.decodeJSON(GoldAnswer.self)
            try routes.database.write { database in
                try routes.gold.set(promptID: id, entries: body.entries, createdBy: signedIn.user.id, in: database)
                try AuditLog().record(action: "gold.set", actorUserID: signedIn.user.id, subject: "prompt:\(id)", remoteAddress: request.clientAddress, in: database)
            }
            return try .json(GoldAnswer(entries: try routes.database.read { try routes.gold.entries(promptID: id, in: $0) }))
        })
        router.delete("/api/prompts/{id}/gold", authenticator.require([.admin, .researcher]) { request, signedIn in
            let id = try pathIdentifier(request)
            try routes.database.write { database in
                try routes.gold.remove(promptID: id, in: database)
                try AuditLog().record(action: "gold.remove", actorUserID: signedIn.user.id, subject: "prompt:\(id)", remoteAddress: request.clientAddress, in: database)
            }
            return Response(status: .noContent)
        })
    }
}
