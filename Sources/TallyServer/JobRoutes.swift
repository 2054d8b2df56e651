import BackgroundTraining
import Dispatch
import Foundation
import HTTP
import JSON
import Labeling
import Storage

/// Training jobs and the models they make (Docs/jobs.md):
///
/// | route | who |
/// |---|---|
/// | `POST /api/projects/{id}/jobs` (`kind`, `baseModelId` or for a sample job `endpointId`, `rewardModelId`, `parameters`) | admin, researcher |
/// | `GET /api/projects/{id}/jobs` | admin, researcher |
/// | `GET /api/jobs/{id}` (with its log, samples and the model it made) | admin, researcher |
/// | `GET /api/jobs/{id}/metrics?afterStep=N` | admin, researcher |
/// | `GET /api/jobs/{id}/events` (server-sent events: `progress`, `metrics`, `end`) | admin, researcher |
/// | `POST /api/jobs/{id}/cancel`, `/pause`, `/resume` | admin, researcher |
/// | `GET /api/models/{id}` (with its lineage and training data; the list is `ProjectRoutes`') | admin, researcher |
/// | `GET /api/models/{id}/files`, `GET /api/models/{id}/files/{name}` (the Hugging Face folder, file by file) | admin, researcher |
/// | `GET /api/candidates/{id}/lineage` (which labels trained the model that wrote it) | admin, researcher |
struct JobRoutes: Sendable {
    let database: DatabasePool
    let authenticator: Authenticator
    /// Seconds between the event stream's looks at the database.
    let eventInterval: Double
    private let jobs = JobRepository()
    private let models = ModelVersionRepository()

    init(database: DatabasePool, authenticator: Authenticator, eventInterval: Double = 1) {
        (self.database, self.authenticator, self.eventInterval) = (database, authenticator, eventInterval)
    }

    struct JobDetail: Encodable {
        let job: Job
        let model: ModelVersion?
        let log: [JobLogLine]
        let samples: [JobSample]
        /// The reward-hacking watch's alarms, each with its message.
        let alarms: [Alarm]
        struct Alarm: Encodable { let kind: String; let step: Int; let value: Double; let bound: Double; let baseline: Double?; let message: String }
    }

    func register(in router: inout Router) {
        let routes = self
        let researchers: Set<Role> = [.admin, .researcher]
        router.post("/api/projects/{id}/jobs", authenticator.require(researchers) { request, signedIn in
            let projectID = try pathIdentifier(request)
            let body = try NewJobRequest(request)
            // The stage's own checks first, so a wrong parameter is named before anything is stored.
            do { _ = try JobParameters.parse(body.parameters, kind: body.kind) } catch let error as JobParameterError {
                throw HTTPError.badRequest("\(error).", code: "invalid_parameter")
            }
            let job = try routes.database.write { database in
                let job = try routes.jobs.enqueue(projectID: projectID, kind: body.kind, parameters: body.parameters, baseModelID: body.baseModelId,
                                                  endpointID: body.endpointId, rewardModelID: body.rewardModelId, createdBy: signedIn.user.id, in: database)
                try AuditLog().record(action: "job.create", actorUserID: signedIn.user.id, subject: "job:\(job.id)", remoteAddress: request.clientAddress, in: database)
                return job
            }
            return try .json(job, status: .created)
        })
        router.get("/api/projects/{id}/jobs", authenticator.require(researchers) { request, _ in
            let projectID = try pathIdentifier(request)
            return try .json(try routes.database.read { database -> [Job] in
                guard try ProjectRepository().find(id: projectID, in: database) != nil else { throw LabelingError("there is no project \(projectID)", kind: .notFound) }
                return try routes.jobs.jobs(projectID: projectID, in: database)
            })
        })
        router.get("/api/jobs/{id}", authenticator.require(researchers) { request, _ in
            let id = try pathIdentifier(request)
            return try .json(try routes.database.read { database in
                guard let job = try routes.jobs.find(id: id, in: database) else { throw LabelingError("there is no job \(id)", kind: .notFound) }
                return JobDetail(job: job, model: try job.resultModelId.flatMap { try routes.models.find(id: $0, in: database) },
                                 log: try routes.jobs.logLines(jobID: id, in: database), samples: try routes.jobs.samples(jobID: id, in: database),
                                 alarms: try JobAlarmRepository().alarms(jobID: id, in: database).map {
                                     JobDetail.Alarm(kind: $0.kind.rawValue, step: $0.step, value: $0.value, bound: $0.bound, baseline: $0.baseline, message: $0.message)
                                 })
            })
        })
        router.get("/api/jobs/{id}/metrics", authenticator.require(researchers) { request, _ in
            let id = try pathIdentifier(request)
            var afterStep = -1
            if let text = request.queryValue("afterStep") {
                guard let value = Int(text), value >= -1 else { throw HTTPError.badRequest("The query parameter 'afterStep' must be an integer of -1 or more.", code: "invalid_query") }
                afterStep = value
            }
            return try .json(try routes.database.read { database in
                guard try routes.jobs.find(id: id, in: database) != nil else { throw LabelingError("there is no job \(id)", kind: .notFound) }
                return try routes.jobs.metrics(jobID: id, afterStep: afterStep, in: database)
            })
        })
        router.get("/api/jobs/{id}/events", authenticator.require(researchers) { request, _ in
            let id = try pathIdentifier(request)
            guard try routes.database.read({ try routes.jobs.find(id: id, in: $0) }) != nil else { throw HTTPError.notFound("There is no job \(id).") }
            let stream = EventStream()
            JobEventFeed(database: routes.database, jobID: id, stream: stream, interval: routes.eventInterval).start()
            return .eventStream(stream)
        })
        for action in ["cancel", "pause", "resume"] {
            router.post("/api/jobs/{id}/\(action)", authenticator.require(researchers) { request, signedIn in
                let id = try pathIdentifier(request)
                let job = try routes.database.write { database in
                    let job = try routes.jobs.request(action, jobID: id, in: database)
                    try AuditLog().record(action: "job.\(action)", actorUserID: signedIn.user.id, subject: "job:\(id)", remoteAddress: request.clientAddress, in: database)
                    return job
                }
                return try .json(job)
            })
        }
        router.get("/api/models/{id}", authenticator.require(researchers) { request, _ in
            let id = try pathIdentifier(request)
            return try .json(try routes.database.read { database in
                guard let lineage = try ModelLineage.of(modelID: id, in: database) else { throw LabelingError("there is no model version \(id)", kind: .notFound) }
                return lineage
            })
        })
        router.get("/api/models/{id}/files", authenticator.require(researchers) { request, _ in
            let version = try routes.modelVersion(request)
            return try .json(try ModelFiles.list(version.checkpointPath))
        })
        router.get("/api/models/{id}/files/{name}", authenticator.require(researchers) { request, _ in
            let version = try routes.modelVersion(request)
            let name = request.pathParameters["name"] ?? ""
            // Only a file the listing names: never a path the client makes up.
            guard let file = try ModelFiles.list(version.checkpointPath).first(where: { $0.name == name }) else {
                throw HTTPError.notFound("Model version \(version.id) has no file '\(name)'.")
            }
            guard let handle = FileHandle(forReadingAtPath: file.path) else { throw HTTPError.notFound("The file '\(name)' cannot be read.") }
            var response = Response.stream(contentType: name.hasSuffix(".json") ? "application/json" : "application/octet-stream", pieces: FileChunks(handle))
            response.headers["Content-Disposition"] = "attachment; filename=\"\(name)\""
            return response
        })
        router.get("/api/candidates/{id}/lineage", authenticator.require(researchers) { request, _ in
            let id = try pathIdentifier(request)
            return try .json(try routes.database.read { database in
                guard let row = try database.queryOne("SELECT model_version_id FROM candidates WHERE id = ?", [id]) else {
                    throw LabelingError("there is no candidate \(id)", kind: .notFound)
                }
                guard let modelID = row.optionalInt("model_version_id") else {
                    throw LabelingError("candidate \(id) was imported, not written by one of Tally's model versions", kind: .notFound)
                }
                return try ModelLineage.of(modelID: modelID, in: database)!
            })
        })
    }
}

extension JobRoutes {
    fileprivate func modelVersion(_ request: Request) throws -> ModelVersion {
        let id = try pathIdentifier(request)
        guard let version = try database.read({ try models.find(id: id, in: $0) }) else { throw HTTPError.notFound("There is no model version \(id).") }
        return version
    }
}

/// The files of a model version: those of its Hugging Face folder (a GGUF version is its one
/// file), which together load in transformers as they are.
private enum ModelFiles {
    struct File: Encodable {
        let name: String
        let bytes: Int
        fileprivate let path: String
        enum CodingKeys: String, CodingKey { case name, bytes }
    }

    static func list(_ checkpoint: String) throws -> [File] {
        let manager = FileManager.default
        func file(_ path: String) -> File {
            File(name: URL(fileURLWithPath: path).lastPathComponent, bytes: ((try? manager.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0, path: path)
        }
        guard CheckpointDigest.isFolder(checkpoint) else {
            guard manager.fileExists(atPath: checkpoint) else { throw HTTPError.notFound("The model's checkpoint is no longer on disk.") }
            return [file(checkpoint)]
        }
        let names = (try? manager.contentsOfDirectory(atPath: checkpoint)) ?? []
        return names.sorted().map { checkpoint + "/" + $0 }.filter { !CheckpointDigest.isFolder($0) }.map(file)
    }
}

/// A file read 256 KiB at a time, as the client takes it.
private struct FileChunks: Sequence, @unchecked Sendable {
    let handle: FileHandle
    init(_ handle: FileHandle) { self.handle = handle }

    func makeIterator() -> AnyIterator<[UInt8]> {
        AnyIterator {
            guard let data = try? handle.read(upToCount: 256 * 1024), !data.isEmpty else {
                try? handle.close()
                return nil
            }
            return Array(data)
        }
    }
}

/// The body of `POST /api/projects/{id}/jobs`.
private struct NewJobRequest {
    static let fields = ["kind", "baseModelId", "endpointId", "rewardModelId", "parameters"]
    let kind: JobKind
    let baseModelId: Int?
    let endpointId: Int?
    let rewardModelId: Int?
    let parameters: JSONValue

    init(_ request: Request) throws {
        let value = try request.jsonBody()
        guard case .object(let members) = value else { throw HTTPError.badRequest("The body must be a JSON object.", code: "invalid_json") }
        if let unknown = members.first(where: { !Self.fields.contains($0.key) }) {
            throw HTTPError.badRequest("field '\(unknown.key)' is not a field of a job (\(Self.fields.joined(separator: ", "))).", code: "unknown_field")
        }
        guard case .string(let kindName)? = value["kind"], let kind = JobKind(rawValue: kindName) else {
            throw HTTPError.badRequest("field 'kind' must be one of \(JobKind.allCases.map(\.rawValue).joined(separator: ", ")).", code: "invalid_field")
        }
        func identifier(_ field: String, _ what: String) throws -> Int? {
            switch value[field] {
            case nil, .null?: return nil
            case .integer(let id)? where id > 0: return Int(id)
            default: throw HTTPError.badRequest("field '\(field)' must be the id of \(what).", code: "invalid_field")
            }
        }
        baseModelId = try identifier("baseModelId", "a model version")
        endpointId = try identifier("endpointId", "a registered endpoint")
        rewardModelId = try identifier("rewardModelId", "a reward model version")
        if baseModelId == nil && endpointId == nil {
            throw HTTPError.badRequest("field 'baseModelId' must be the id of a model version (a sample or ai-labels job may give 'endpointId' instead).", code: "invalid_field")
        }
        self.kind = kind
        parameters = value["parameters"] ?? .object([])
    }
}

/// A job's live feed: every `interval` seconds, a timer (no thread is held between looks)
/// reads the job and sends what changed: a `progress` event (status, step, total, time left), a
/// `metrics` event with the new points, and `end` once the job is finished, which closes the
/// stream. A client that goes away stops the timer.
private final class JobEventFeed: @unchecked Sendable {
    let database: DatabasePool
    let jobID: Int
    let stream: EventStream
    let interval: Double
    private var lastStep = -1
    private var lastProgress = ""
    private var timer: (any DispatchSourceTimer)?

    init(database: DatabasePool, jobID: Int, stream: EventStream, interval: Double) {
        (self.database, self.jobID, self.stream, self.interval) = (database, jobID, stream, interval)
    }

    func start() {
        // A serial queue of its own: one look at a time, in order.
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "tally.job-events"))
        timer.schedule(deadline: .now(), repeating: interval)
        timer.setEventHandler { [self] in look() }
        self.timer = timer
        timer.resume()
    }

    private func look() {
        guard !stream.isCancelled else { return stop() }
        do {
            let (job, metrics) = try database.read { database -> (Job?, [JobMetric]) in
                (try JobRepository().find(id: jobID, in: database), try JobRepository().metrics(jobID: jobID, afterStep: lastStep, in: database))
            }
            guard let job else { stream.finish(); return stop() }
            let progress = JSONWriter.string(try JSONValueEncoder().encodeToValue(job))
            if progress != lastProgress {
                stream.send(event: "progress", data: progress)
                lastProgress = progress
            }
            if let last = metrics.last {
                // Only whole steps: a step whose metrics are still being written is read again next time.
                // A paused job writes no more: its last step is whole too.
                let complete = job.status.isFinished || job.status == .paused ? metrics : metrics.filter { $0.step < last.step }
                if let newest = complete.last {
                    stream.send(event: "metrics", data: JSONWriter.string(try JSONValueEncoder().encodeToValue(complete)))
                    lastStep = newest.step
                }
            }
            if job.status.isFinished || job.status == .paused {
                stream.send(event: "end", data: job.status.rawValue)
                stream.finish()
                stop()
            }
        } catch {
            stream.send(event: "error", data: "\(error)")
            stream.finish()
            stop()
        }
    }

    private func stop() {
        timer?.cancel()
        timer = nil
    }
}
