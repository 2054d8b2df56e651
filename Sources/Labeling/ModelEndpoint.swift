import Foundation
import JSON
import Storage

/// An OpenAI-compatible server's model (vLLM, llama.cpp's server, a hosted API, another Tally)
/// registered as a source of answers beside Tally's own model versions. Its API key is kept in
/// the database for the worker to send and never shown again: only its last four characters.
public struct ModelEndpoint: Sendable, Encodable, Equatable {
    public let id: Int
    public let name: String
    /// The API's base, as OpenAI's clients take it: requests go to `{baseUrl}/chat/completions`.
    public let baseUrl: String
    /// The model name the requests ask for.
    public let model: String
    /// The key's last four characters, so a person can tell keys apart; nil without a key.
    public let apiKeyEnding: String?
    public let timeoutSeconds: Double
    public let retries: Int
    public let concurrentRequests: Int
    public let requestsPerMinute: Int?
    public let createdBy: Int?
    public let createdAt: String
    public let removedAt: String?

    init(row: Row) throws {
        id = try row.int("id")
        name = try row.string("name")
        baseUrl = try row.string("base_url")
        model = try row.string("model")
        apiKeyEnding = row.optionalString("api_key").map { String($0.suffix(4)) }
        timeoutSeconds = try row.double("timeout_seconds")
        retries = try row.int("retries")
        concurrentRequests = try row.int("concurrent_requests")
        requestsPerMinute = row.optionalInt("requests_per_minute")
        createdBy = row.optionalInt("created_by")
        createdAt = try row.string("created_at")
        removedAt = row.optionalString("removed_at")
    }

    /// Where chat completions are asked for.
    public var chatCompletionsURL: String {
        (baseUrl.hasSuffix("/") ? String(baseUrl.dropLast()) : baseUrl) + "/chat/completions"
    }
}

/// What a person gives to register an endpoint; what is left out takes the column's default.
public struct NewModelEndpoint: Sendable, Decodable {
    public var name: String
    public var baseUrl: String
    public var model: String
    public var apiKey: String?
    public var timeoutSeconds: Double?
    public var retries: Int?
    public var concurrentRequests: Int?
    public var requestsPerMinute: Int?

    public init(name: String, baseUrl: String, model: String, apiKey: String? = nil) {
        (self.name, self.baseUrl, self.model, self.apiKey) = (name, baseUrl, model, apiKey)
    }
}

public struct ModelEndpointRepository: Sendable {
    private static let columns = "id, name, base_url, model, api_key, timeout_seconds, retries, concurrent_requests, requests_per_minute, created_by, created_at, removed_at"

    public init() {}

    public func create(_ endpoint: NewModelEndpoint, createdBy: Int?, in database: Database) throws -> ModelEndpoint {
        let name = endpoint.name.trimmingCharacters(in: .whitespaces)
        let model = endpoint.model.trimmingCharacters(in: .whitespaces)
        let baseURL = endpoint.baseUrl.trimmingCharacters(in: .whitespaces)
        guard (1...200).contains(StoredText.length(name)) else { throw LabelingError("field 'name' must have 1 to 200 characters") }
        guard (1...200).contains(StoredText.length(model)) else { throw LabelingError("field 'model' must name the served model, in 1 to 200 characters") }
        try Self.checkBaseURL(baseURL)
        let key = endpoint.apiKey.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        if let key {
            guard StoredText.length(key) <= 4000, key.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) else {
                throw LabelingError("field 'apiKey' must be at most 4000 printable ASCII characters without spaces")
            }
        }
        if let seconds = endpoint.timeoutSeconds, !(seconds > 0 && seconds <= 3600) {
            throw LabelingError("field 'timeoutSeconds' must be above 0 and at most 3600, not \(seconds)")
        }
        if let retries = endpoint.retries, !(0...10).contains(retries) { throw LabelingError("field 'retries' must be from 0 to 10, not \(retries)") }
        if let count = endpoint.concurrentRequests, !(1...64).contains(count) {
            throw LabelingError("field 'concurrentRequests' must be from 1 to 64, not \(count)")
        }
        if let rate = endpoint.requestsPerMinute, !(1...100_000).contains(rate) {
            throw LabelingError("field 'requestsPerMinute' must be from 1 to 100000, not \(rate)")
        }
        if try database.queryOne("SELECT 1 FROM model_endpoints WHERE name = ?", [name]) != nil {
            throw LabelingError("an endpoint named '\(name)' is registered already", kind: .conflict)
        }
        try database.execute("""
            INSERT INTO model_endpoints (name, base_url, model, api_key, timeout_seconds, retries, concurrent_requests, requests_per_minute, created_by)
            VALUES (?, ?, ?, ?, coalesce(?, 120), coalesce(?, 3), coalesce(?, 4), ?, ?)
            """, [name, baseURL, model, key, endpoint.timeoutSeconds, endpoint.retries, endpoint.concurrentRequests, endpoint.requestsPerMinute, createdBy])
        return try find(id: Int(database.lastInsertRowID), in: database)!
    }

    /// An absolute http or https URL with a host and neither credentials, query nor fragment
    /// (OpenAI's clients add the route's path to it).
    static func checkBaseURL(_ url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = components.host, !host.isEmpty else {
            throw LabelingError("field 'baseUrl' must be an http or https URL such as http://localhost:8000/v1, not '\(url.prefix(200))'")
        }
        guard components.user == nil, components.password == nil else { throw LabelingError("field 'baseUrl' must not carry a user name or password: give the key as 'apiKey'") }
        guard components.query == nil, components.fragment == nil else { throw LabelingError("field 'baseUrl' must have no query or fragment") }
        guard StoredText.length(url) <= 2000 else { throw LabelingError("field 'baseUrl' must have at most 2000 characters") }
    }

    public func find(id: Int, in database: Database) throws -> ModelEndpoint? {
        try database.queryOne("SELECT \(Self.columns) FROM model_endpoints WHERE id = ?", [id]).map(ModelEndpoint.init(row:))
    }

    /// Every endpoint, newest first; removed ones too when asked.
    public func all(includingRemoved: Bool = false, in database: Database) throws -> [ModelEndpoint] {
        try database.query("SELECT \(Self.columns) FROM model_endpoints \(includingRemoved ? "" : "WHERE removed_at IS NULL") ORDER BY id DESC")
            .map(ModelEndpoint.init(row:))
    }

    /// The key the worker sends, read only where a request is made.
    public func apiKey(endpointID: Int, in database: Database) throws -> String? {
        try database.queryOne("SELECT api_key FROM model_endpoints WHERE id = ?", [endpointID])?.optionalString("api_key")
    }

    /// Removes an endpoint from use: no job starts from it again and its key is erased. What it
    /// wrote keeps its name. Jobs queued from it fail when they start, saying so.
    public func remove(id: Int, in database: Database) throws -> ModelEndpoint {
        guard let endpoint = try find(id: id, in: database) else { throw LabelingError("there is no endpoint \(id)", kind: .notFound) }
        guard endpoint.removedAt == nil else { throw LabelingError("endpoint \(id) was removed at \(endpoint.removedAt!)", kind: .conflict) }
        try database.execute("UPDATE model_endpoints SET removed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), api_key = NULL WHERE id = ?", [id])
        return try find(id: id, in: database)!
    }
}
