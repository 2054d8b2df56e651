import BackgroundTraining
import Cryptography
import HTTP
import JSON
import Labeling
import Storage

/// A reward model Tally trained, served to OpenRLHF's PPO as its remote reward model
/// (Docs/openrlhf.md): `--reward.remote_url http://HOST:PORT/openrlhf/{token}/get_reward`.
///
/// | route | who |
/// |---|---|
/// | `POST /openrlhf/{token}/get_reward` (`{"query": [...], "prompts"?, "labels"?}` → `{"rewards", "scores", "extra_logs"}`) | whoever holds the URL |
/// | `POST /api/models/{id}/reward-endpoints` (`{"name"}`; the URL is shown once) | admin, researcher |
/// | `GET /api/models/{id}/reward-endpoints` | admin, researcher |
/// | `DELETE /api/reward-endpoints/{id}` (revokes) | admin, researcher |
struct OpenRLHFRoutes: Sendable {
    let database: DatabasePool
    let authenticator: Authenticator
    let scorer: RemoteRewardScorer
    /// Queries one request may carry: OpenRLHF sends one rollout batch at a time.
    static let maximumQueries = 4096

    struct CreatedEndpoint: Encodable {
        let endpoint: RewardEndpoint
        /// The path to give OpenRLHF after the server's address; shown only now.
        let path: String
    }
    struct EndpointList: Encodable { let endpoints: [RewardEndpoint] }
    struct NewEndpoint: Decodable { let name: String }

    func register(in router: inout Router) {
        let routes = self
        router.post("/openrlhf/{token}/get_reward", mayBlock: false) { request in try routes.getReward(request) }
        router.post("/api/models/{id}/reward-endpoints", authenticator.require([.admin, .researcher]) { request, signedIn in
            let modelID = try pathIdentifier(request)
            let body = try request.decodeJSON(NewEndpoint.self)
            let token = SecureRandom.token()
            let endpoint = try routes.database.write { database in
                let endpoint = try RewardEndpointRepository().create(rewardModelID: modelID, name: body.name, tokenHash: SHA256.hexDigest(token), createdBy: signedIn.user.id, in: database)
                try AuditLog().record(action: "reward-endpoint.create", actorUserID: signedIn.user.id, subject: "reward-endpoint:\(endpoint.id)",
                                      remoteAddress: request.clientAddress, in: database)
                return endpoint
            }
            return try .json(CreatedEndpoint(endpoint: endpoint, path: "/openrlhf/\(token)/get_reward"), status: .created)
        })
        router.get("/api/models/{id}/reward-endpoints", authenticator.require([.admin, .researcher]) { request, _ in
            let modelID = try pathIdentifier(request)
            return try .json(EndpointList(endpoints: try routes.database.read { try RewardEndpointRepository().all(rewardModelID: modelID, in: $0) }))
        })
        router.delete("/api/reward-endpoints/{id}", authenticator.require([.admin, .researcher]) { request, signedIn in
            let id = try pathIdentifier(request)
            return try .json(try routes.database.write { database in
                let endpoint = try RewardEndpointRepository().revoke(id: id, in: database)
                try AuditLog().record(action: "reward-endpoint.revoke", actorUserID: signedIn.user.id, subject: "reward-endpoint:\(id)",
                                      remoteAddress: request.clientAddress, in: database)
                return endpoint
            })
        })
    }

    /// OpenRLHF's remote reward call: the rewards of its queries, in order. Runs on the event
    /// loop (short reads only) and answers once the scorer has scored the batch.
    private func getReward(_ request: Request) throws -> Response {
        let hash = SHA256.hexDigest(request.pathParameters["token"] ?? "")
        guard let (endpoint, version) = try database.read({ database -> (RewardEndpoint, ModelVersion)? in
            guard let endpoint = try RewardEndpointRepository().live(tokenHash: hash, in: database),
                  let version = try ModelVersionRepository().find(id: endpoint.rewardModelId, in: database) else { return nil }
            return (endpoint, version)
        }) else { throw HTTPError.notFound("No live reward endpoint has this URL (it may have been revoked).") }
        let body = try request.jsonBody()
        guard case .array(let values)? = body["query"], !values.isEmpty, values.count <= Self.maximumQueries else {
            throw HTTPError.badRequest("field 'query' must be an array of 1 to \(Self.maximumQueries) strings (the conversations to score).", code: "invalid_field")
        }
        let queries = try values.enumerated().map { index, value -> String in
            guard case .string(let text) = value else { throw HTTPError.badRequest("field 'query[\(index)]' must be a string.", code: "invalid_field") }
            return text
        }
        // `prompts` and `labels` come with every request; a learned reward model reads the whole
        // conversation, so they are checked for shape and not otherwise used.
        if let prompts = body["prompts"], prompts != .null {
            guard case .array(let list) = prompts, list.count == queries.count else {
                throw HTTPError.badRequest("field 'prompts' must hold one entry per query (\(queries.count)).", code: "invalid_field")
            }
        }
        let database = self.database, scorer = self.scorer
        return .deferred { respond in
            scorer.score(queries, with: version) { result in
                switch result {
                case .success(let rewards):
                    try? database.write { try RewardEndpointRepository().recordUse(id: endpoint.id, queries: rewards.count, in: $0) }
                    let values = JSONValue.array(rewards.map { .double(Double($0)) })
                    var output: [UInt8] = []
                    JSONWriter.write(.object([("rewards", values), ("scores", values), ("extra_logs", .object([]))]), into: &output)
                    respond(.success(Response(contentType: "application/json", body: output)))
                case .failure(let error):
                    respond(.failure(error.isClientError ? HTTPError.badRequest(error.description, code: "invalid_query")
                                                         : HTTPError(.internalServerError, code: "scoring_failed", message: error.description)))
                }
            }
        }
    }
}
