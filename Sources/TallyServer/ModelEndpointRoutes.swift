import Cryptography
import Foundation
import HTTP
import JSON
import Labeling
import OutgoingHTTP
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

    struct CheckResult: Encodable {
        let reachable: Bool
        /// Whether `{baseUrl}/models` lists the endpoint's model (nil when it could not be read).
        let modelServed: Bool?
        /// The models the server lists, the first 100.
        let models: [String]
        let message: String
    }

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
            return try .json(try routes.check(endpoint, apiKey: key))
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

    /// Asks the endpoint for its model list (OpenAI's `GET /models`), so a wrong address, key or
    /// model name shows before a job fails on it.
    private func check(_ endpoint: ModelEndpoint, apiKey: String?) throws -> CheckResult {
        let base = endpoint.baseUrl.hasSuffix("/") ? String(endpoint.baseUrl.dropLast()) : endpoint.baseUrl
        let client = HTTPClient(timeoutSeconds: min(Self.checkTimeout, endpoint.timeoutSeconds), maximumResponseBytes: 4 << 20, tls: try TLSClientContext())
        let response: HTTPClientResponse
        do {
            response = try client.send("GET", base + "/models", headers: apiKey.map { [("Authorization", "Bearer \($0)")] } ?? [])
        } catch {
            return CheckResult(reachable: false, modelServed: nil, models: [], message: "\(base)/models could not be reached: \(error)")
        }
        guard (200...299).contains(response.status) else {
            return CheckResult(reachable: true, modelServed: nil, models: [],
                               message: "\(base)/models answered \(response.status): \(String(response.bodyText.prefix(300)))")
        }
        guard let list = try? JSONParser.parse(response.body), case .array(let data)? = list["data"] else {
            return CheckResult(reachable: true, modelServed: nil, models: [], message: "\(base)/models answered without OpenAI's model list ('data')")
        }
        let models = data.compactMap { entry -> String? in if case .string(let id)? = entry["id"] { id } else { nil } }
        let served = models.contains(endpoint.model)
        return CheckResult(reachable: true, modelServed: served, models: Array(models.prefix(100)),
                           message: served ? "\(base) serves \(endpoint.model)." : "\(base) answers, but its model list does not name \(endpoint.model).")
    }
}
