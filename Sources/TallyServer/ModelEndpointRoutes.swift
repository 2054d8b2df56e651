import BackgroundTraining
import Foundation
import HTTP
import JSON
import Labeling
import Storage

/// OpenAI-compatible servers registered as sources of candidates (Docs/endpoints.md): a sample
/// job started with `endpointId` asks the endpoint for its answers. The API key is taken once
/// and never shown again.
///
/// | route | who |
/// |---|---|
/// | `POST /api/model-endpoints` (`name`, `baseUrl`, `model`, `apiKey`?, `timeoutSeconds`?, `retries`?, `concurrentRequests`?, `requestsPerMinute`?) | admin, researcher |
/// | `GET /api/model-endpoints` (`?removed=1` also lists removed ones) | admin, researcher |
/// | `POST /api/model-endpoints/{id}/check` (asks `{baseUrl}/models`; says whether the model is served) | admin, researcher |
/// | `DELETE /api/model-endpoints/{id}` (removes it and erases its key) | admin, researcher |
struct ModelEndpointRoutes: Sendable {
    let database: DatabasePool
    let authenticator: Authenticator
    /// Seconds a check waits for the endpoint: it holds a request thread meanwhile.
    static let checkTimeout = 10.0

    struct EndpointList: Encodable { let endpoints: [ModelEndpoint] }

    func register(in router: inout Router) {
        let routes = self
        let researchers: Set<Role> = [.admin, .researcher]
        router.post("/api/model-endpoints", authenticator.require(researchers) { request, signedIn in
            let body = try request.decodeJSON(NewModelEndpoint.self)
            let endpoint = try routes.database.write { database in
                let endpoint = try ModelEndpointRepository().create(body, createdBy: signedIn.user.id, in: database)
                try AuditLog().record(action: "model-endpoint.create", actorUserID: signedIn.user.id, subject: "model-endpoint:\(endpoint.id)",
                                      remoteAddress: request.clientAddress, in: database)
                return endpoint
            }
            return try .json(endpoint, status: .created)
        })
        router.get("/api/model-endpoints", authenticator.require(researchers) { request, _ in
            let removed = request.queryValue("removed") == "1"
            return try .json(EndpointList(endpoints: try routes.database.read { try ModelEndpointRepository().all(includingRemoved: removed, in: $0) }))
        })
        router.post("/api/model-endpoints/{id}/check", authenticator.require(researchers) { request, _ in
            let id = try pathIdentifier(request)
            let (endpoint, key) = try routes.database.read { database -> (ModelEndpoint, String?) in
                guard let endpoint = try ModelEndpointRepository().find(id: id, in: database) else { throw LabelingError("there is no endpoint \(id)", kind: .notFound) }
                return (endpoint, try ModelEndpointRepository().apiKey(endpointID: id, in: database))
            }
            guard endpoint.removedAt == nil else { throw LabelingError("endpoint \(id) was removed at \(endpoint.removedAt!)", kind: .conflict) }
            return try .json(try EndpointCheck(endpoint, apiKey: key, timeoutSeconds: Self.checkTimeout))
        })
        router.delete("/api/model-endpoints/{id}", authenticator.require(researchers) { request, signedIn in
            let id = try pathIdentifier(request)
            return try .json(try routes.database.write { database in
                let endpoint = try ModelEndpointRepository().remove(id: id, in: database)
                try AuditLog().record(action: "model-endpoint.remove", actorUserID: signedIn.user.id, subject: "model-endpoint:\(id)",
                                      remoteAddress: request.clientAddress, in: database)
                return endpoint
            })
        })
    }
}
