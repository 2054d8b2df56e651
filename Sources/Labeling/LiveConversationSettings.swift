import JSON
import Storage

/// What answers in a project's live conversations (model versions, and registered endpoints),
/// and how they sample. With one answerer both answers are samples of it; with more, each
/// conversation draws two of them.
public struct LiveConversationSettings: Sendable, Equatable, Codable {
    public var modelIds: [Int]
    public var endpointIds: [Int]
    public var temperature: Double
    public var maximumTokens: Int

    public static let maximumModels = 8
    public static let temperatures = 0.0...2.0
    public static let maximumTokenRange = 1...2048

    public init(modelIds: [Int], endpointIds: [Int] = [], temperature: Double = 0.7, maximumTokens: Int = 256) {
        (self.modelIds, self.endpointIds, self.temperature, self.maximumTokens) = (modelIds, endpointIds, temperature, maximumTokens)
    }

    /// Every answerer the settings name: the model versions, then the endpoints.
    public var answerers: [LiveAnswerer] { modelIds.map(LiveAnswerer.model) + endpointIds.map(LiveAnswerer.endpoint) }
}

/// What answers one side of a live conversation: one of Tally's model versions, or a
/// registered OpenAI-compatible endpoint.
public enum LiveAnswerer: Sendable, Equatable, Hashable {
    case model(Int)
    case endpoint(Int)

    public var modelVersionID: Int? { if case .model(let id) = self { id } else { nil } }
    public var endpointID: Int? { if case .endpoint(let id) = self { id } else { nil } }
}

/// What a researcher sends to set them up; absent sampling settings keep their value (or take
/// the defaults), absent `endpointIds` means none, and nothing to answer turns live
/// conversations off.
public struct LiveConversationSettingsChange: Sendable, Decodable {
    public var modelIds: [Int]
    public var endpointIds: [Int]?
    public var temperature: Double?
    public var maximumTokens: Int?

    public init(modelIds: [Int], endpointIds: [Int]? = nil, temperature: Double? = nil, maximumTokens: Int? = nil) {
        (self.modelIds, self.endpointIds, self.temperature, self.maximumTokens) = (modelIds, endpointIds, temperature, maximumTokens)
    }
}

public struct LiveConversationSettingsRepository: Sendable {
    public init() {}

    public func find(projectID: Int, in database: Database) throws -> LiveConversationSettings? {
        guard let row = try database.queryOne("""
            SELECT model_version_ids, endpoint_ids, temperature, maximum_tokens FROM live_conversation_settings WHERE project_id = ?
            """, [projectID]) else { return nil }
        return LiveConversationSettings(modelIds: try JSONColumns.integers(try row.string("model_version_ids"), column: "model_version_ids"),
                                        endpointIds: try JSONColumns.integers(try row.string("endpoint_ids"), column: "endpoint_ids"),
                                        temperature: try row.double("temperature"), maximumTokens: try row.int("maximum_tokens"))
    }

    /// Checks and stores the change; returns the settings in force, nil when they are off. Every
    /// model must be a registered version that generates (a policy or an SFT model, not a
    /// reward or value model); every endpoint a registered one not removed.
    public func save(_ change: LiveConversationSettingsChange, projectID: Int, in database: Database) throws -> LiveConversationSettings? {
        guard try ProjectRepository().find(id: projectID, in: database) != nil else { throw LabelingError("there is no project \(projectID)", kind: .notFound) }
        let endpointIDs = change.endpointIds ?? []
        if change.modelIds.isEmpty && endpointIDs.isEmpty {
            try database.execute("DELETE FROM live_conversation_settings WHERE project_id = ?", [projectID])
            return nil
        }
        let count = change.modelIds.count + endpointIDs.count
        guard count <= LiveConversationSettings.maximumModels else {
            throw LabelingError("fields 'modelIds' and 'endpointIds' must name at most \(LiveConversationSettings.maximumModels) answerers together, not \(count)")
        }
        guard Set(change.modelIds).count == change.modelIds.count else { throw LabelingError("field 'modelIds' names a model version twice") }
        guard Set(endpointIDs).count == endpointIDs.count else { throw LabelingError("field 'endpointIds' names an endpoint twice") }
        let versions = ModelVersionRepository()
        for (index, id) in change.modelIds.enumerated() {
            guard let version = try versions.find(id: id, in: database) else {
                throw LabelingError("field 'modelIds[\(index)]': there is no model version \(id)")
            }
            guard version.kind == "policy" || version.kind == "sft" else {
                throw LabelingError("field 'modelIds[\(index)]': model version \(id) ('\(version.name)') is a \(version.kind) model, which scores answers and cannot write them")
            }
        }
        for (index, id) in endpointIDs.enumerated() {
            guard let endpoint = try ModelEndpointRepository().find(id: id, in: database) else {
                throw LabelingError("field 'endpointIds[\(index)]': there is no endpoint \(id)")
            }
            guard endpoint.removedAt == nil else { throw LabelingError("field 'endpointIds[\(index)]': endpoint '\(endpoint.name)' was removed at \(endpoint.removedAt!)") }
        }
        let current = try find(projectID: projectID, in: database)
        let temperature = change.temperature ?? current?.temperature ?? 0.7
        let maximumTokens = change.maximumTokens ?? current?.maximumTokens ?? 256
        guard LiveConversationSettings.temperatures.contains(temperature) else {
            throw LabelingError("field 'temperature' must be from 0 (the most likely token) to 2, not \(temperature)")
        }
        guard LiveConversationSettings.maximumTokenRange.contains(maximumTokens) else {
            throw LabelingError("field 'maximumTokens' must be from 1 to \(LiveConversationSettings.maximumTokenRange.upperBound), not \(maximumTokens)")
        }
        try database.execute("""
            INSERT INTO live_conversation_settings (project_id, model_version_ids, endpoint_ids, temperature, maximum_tokens) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (project_id) DO UPDATE SET model_version_ids = excluded.model_version_ids, endpoint_ids = excluded.endpoint_ids,
                temperature = excluded.temperature, maximum_tokens = excluded.maximum_tokens, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            """, [projectID, JSONColumns.encode(change.modelIds), JSONColumns.encode(endpointIDs), temperature, maximumTokens])
        return try find(projectID: projectID, in: database)
    }
}
