import Foundation
import JSON
import Storage

/// A model Tally knows: a pretrained base or one its training made.
public struct ModelVersion: Sendable, Equatable, Encodable {
    public let id: Int
    public let name: String
    public let kind: String
    public let parentId: Int?
    public let architecture: String
    public let checkpointPath: String
    public let checkpointSha256: String
    public let parameterCount: Int
    public let lineage: JSONValue
    public let createdAt: String

    init(row: Row) throws {
        id = try row.int("id")
        name = try row.string("name")
        kind = try row.string("kind")
        parentId = row.optionalInt("parent_id")
        architecture = try row.string("architecture")
        checkpointPath = try row.string("checkpoint_path")
        checkpointSha256 = try row.string("checkpoint_sha256")
        parameterCount = try row.int("parameter_count")
        lineage = try JSONParser.parse(try row.string("lineage"))
        createdAt = try row.string("created_at")
    }
}

public struct ModelVersionRepository: Sendable {
    private static let columns = "id, name, kind, parent_id, architecture, checkpoint_path, checkpoint_sha256, parameter_count, lineage, created_at"

    public init() {}

    /// Registers a pretrained base policy, or returns the one registered under the name when its
    /// weights are the same; a different file under a known name is a conflict.
    public func registerBasePolicy(name: String, architecture: String, checkpointPath: String, checkpointSha256: String,
                                   parameterCount: Int, lineage: JSONValue, in database: Database) throws -> ModelVersion {
        if let existing = try find(name: name, in: database) {
            guard existing.checkpointSha256 == checkpointSha256 else {
                throw LabelingError("a model named '\(name)' is registered with other weights (sha256 \(existing.checkpointSha256))", kind: .conflict)
            }
            return existing
        }
        try database.execute("""
            INSERT INTO model_versions (name, kind, architecture, checkpoint_path, checkpoint_sha256, parameter_count, lineage)
            VALUES (?, 'policy', ?, ?, ?, ?, ?)
            """, [name, architecture, checkpointPath, checkpointSha256, parameterCount, JSONWriter.string(lineage)])
        return try find(name: name, in: database)!
    }

    public func find(name: String, in database: Database) throws -> ModelVersion? {
        try database.queryOne("SELECT \(Self.columns) FROM model_versions WHERE name = ?", [name]).map(ModelVersion.init(row:))
    }

    public func all(in database: Database) throws -> [ModelVersion] {
        try database.query("SELECT \(Self.columns) FROM model_versions ORDER BY id").map(ModelVersion.init(row:))
    }
}
