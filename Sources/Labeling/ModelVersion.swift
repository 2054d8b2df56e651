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
    public let metrics: JSONValue
    /// The project whose labels trained it (nil for a pretrained base).
    public let projectId: Int?
    /// The job that trained it: its snapshot is the exact labels it learned from.
    public let jobId: Int?
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
        metrics = try JSONParser.parse(try row.string("metrics"))
        projectId = row.optionalInt("project_id")
        jobId = row.optionalInt("job_id")
        createdAt = try row.string("created_at")
    }
}

public struct ModelVersionRepository: Sendable {
    private static let columns = "id, name, kind, parent_id, architecture, checkpoint_path, checkpoint_sha256, parameter_count, lineage, metrics, project_id, job_id, created_at"

    public init() {}

    /// Registers a pretrained base (a policy, or a reward model trained elsewhere), or returns
    /// the one registered under the name when its weights are the same; a different file under a
    /// known name is a conflict.
    public func registerBase(name: String, kind: String = "policy", architecture: String, checkpointPath: String, checkpointSha256: String,
                                   parameterCount: Int, lineage: JSONValue, in database: Database) throws -> ModelVersion {
        if let existing = try find(name: name, in: database) {
            guard existing.checkpointSha256 == checkpointSha256 else {
                throw LabelingError("a model named '\(name)' is registered with other weights (sha256 \(existing.checkpointSha256))", kind: .conflict)
            }
            return existing
        }
        try database.execute("""
            INSERT INTO model_versions (name, kind, architecture, checkpoint_path, checkpoint_sha256, parameter_count, lineage)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [name, kind, architecture, checkpointPath, checkpointSha256, parameterCount, JSONWriter.string(lineage)])
        return try find(name: name, in: database)!
    }

    /// Registers what a training job made: its kind, the version it was trained from, where its
    /// Hugging Face folder is and its digest, the job's parameters and snapshot counts as
    /// lineage, and its final metrics.
    public func registerTrained(name: String, kind: String, parentID: Int, projectID: Int, jobID: Int, architecture: String, checkpointPath: String,
                                checkpointSha256: String, parameterCount: Int, lineage: JSONValue, metrics: JSONValue, in database: Database) throws -> ModelVersion {
        do {
            try database.execute("""
                INSERT INTO model_versions (name, kind, parent_id, project_id, job_id, architecture, checkpoint_path, checkpoint_sha256, parameter_count, lineage, metrics)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [name, kind, parentID, projectID, jobID, architecture, checkpointPath, checkpointSha256, parameterCount,
                      JSONWriter.string(lineage), JSONWriter.string(metrics)])
        } catch let error as DatabaseError where error.isUniqueViolation {
            throw LabelingError("a model named '\(name)' is registered already", kind: .conflict)
        }
        return try find(id: Int(database.lastInsertRowID), in: database)!
    }

    /// Registers what an engine outside Tally made (`tally import-model`): for a handed-off job,
    /// as that job's model version (its snapshot the version's training data), which ends the
    /// job as succeeded; else as a version of `parentID`, or a base.
    public func registerImported(name: String, kind: String, parentID: Int?, jobID: Int?, architecture: String, checkpointPath: String,
                                 checkpointSha256: String, parameterCount: Int, lineage: JSONValue, in database: Database) throws -> ModelVersion {
        var projectID: Int?
        if let jobID {
            guard let job = try JobRepository().find(id: jobID, in: database) else { throw LabelingError("--snapshot: there is no job \(jobID)", kind: .notFound) }
            guard job.status == .handedOff else {
                throw LabelingError("--snapshot: job \(jobID) is \(job.status.rawValue), not handed off to an engine (tally export-job hands one off)", kind: .conflict)
            }
            guard let made = job.kind.resultKind, made == kind || (made == "sft" && kind == "policy") else {
                throw LabelingError("--kind: job \(jobID) is a \(job.kind.rawValue) job, which makes a \(job.kind.resultKind ?? "?") model, not a \(kind) model")
            }
            projectID = job.projectId
        }
        if let parentID, try find(id: parentID, in: database) == nil { throw LabelingError("--parent: there is no model version \(parentID)", kind: .notFound) }
        let storedKind = try jobID.flatMap { try JobRepository().find(id: $0, in: database)?.kind.resultKind } ?? kind
        do {
            try database.execute("""
                INSERT INTO model_versions (name, kind, parent_id, project_id, job_id, architecture, checkpoint_path, checkpoint_sha256, parameter_count, lineage)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [name, storedKind, parentID, projectID, jobID, architecture, checkpointPath, checkpointSha256, parameterCount, JSONWriter.string(lineage)])
        } catch let error as DatabaseError where error.isUniqueViolation {
            throw LabelingError("--name: a model named '\(name)' is registered already", kind: .conflict)
        }
        let version = try find(id: Int(database.lastInsertRowID), in: database)!
        if let jobID {
            try JobRepository().log(jobID: jobID, "Imported what the engine made from \(checkpointPath) as model version \(version.id) (\(name)).", in: database)
            try JobRepository().finish(id: jobID, status: .succeeded, resultModelID: version.id, in: database)
        }
        return version
    }

    public func find(id: Int, in database: Database) throws -> ModelVersion? {
        try database.queryOne("SELECT \(Self.columns) FROM model_versions WHERE id = ?", [id]).map(ModelVersion.init(row:))
    }

    /// The version made by `jobID`, if it finished.
    public func made(byJob jobID: Int, in database: Database) throws -> ModelVersion? {
        try database.queryOne("SELECT \(Self.columns) FROM model_versions WHERE job_id = ?", [jobID]).map(ModelVersion.init(row:))
    }

    public func find(name: String, in database: Database) throws -> ModelVersion? {
        try database.queryOne("SELECT \(Self.columns) FROM model_versions WHERE name = ?", [name]).map(ModelVersion.init(row:))
    }

    public func all(in database: Database) throws -> [ModelVersion] {
        try database.query("SELECT \(Self.columns) FROM model_versions ORDER BY id").map(ModelVersion.init(row:))
    }
}
