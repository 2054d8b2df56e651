import Foundation
import JSON
import Storage

/// What a training job does: the stage it runs.
public enum JobKind: String, Sendable, CaseIterable, Codable {
    /// Supervised fine-tuning on the project's demonstrations.
    case sft
    /// A reward model on the project's rankings.
    case reward
    /// A policy against a reward model on the project's prompts.
    case rloo, grpo, ppo
    /// A policy directly on the project's rankings.
    case dpo
    /// New candidates for the project's prompts that wait for rankings, from a policy.
    case sample
    /// A policy's answers to the project's held-out prompts, paired blind with other versions'
    /// answers for labelers to judge (human evaluation).
    case evaluation
    /// A reward model's accuracy on the project's held-out rankings (prompts marked validation
    /// or test, or ranked by held-out labelers), beside "longer answer wins".
    case rewardEvaluation = "reward-evaluation"
    /// Best-of-n candidates for the prompts waiting for rankings: n answers sampled for each
    /// one wanted, the reward model's favourites kept.
    case bestOfN = "best-of-n"
    /// New prompts a policy writes from the project's own, Self-Instruct style, with the
    /// paper's filters; stored with source `model`.
    case selfInstruct = "self-instruct"
    /// A reward model ranks the candidates of the project's prompts by its scores, as a labeler
    /// would: AI labels, stored and exported apart from people's (RLAIF).
    case aiLabels = "ai-labels"

    /// The kind of model version the job makes, or nil (sampling makes candidates).
    public var resultKind: String? {
        switch self {
        case .sft: "sft"
        case .reward: "reward"
        case .rloo, .grpo, .ppo, .dpo: "policy"
        case .sample, .bestOfN, .evaluation, .rewardEvaluation, .selfInstruct, .aiLabels: nil
        }
    }

    /// Whether the job needs a reward model to optimize against.
    public var needsRewardModel: Bool { self == .rloo || self == .grpo || self == .ppo || self == .bestOfN }
}

public enum JobStatus: String, Sendable, Codable {
    case queued, running, paused, succeeded, failed, cancelled
    /// Written out for TRL or OpenRLHF (`tally export-job`): no worker takes it; it succeeds
    /// when `tally import-model` registers what the engine made.
    case handedOff = "handed-off"

    public var isFinished: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// One training job as stored.
public struct Job: Sendable, Encodable {
    public let id: Int
    public let projectId: Int
    public let kind: JobKind
    public let status: JobStatus
    public let parameters: JSONValue
    /// The model version the job starts from; nil when its answers come from an endpoint.
    public let baseModelId: Int?
    /// The engine (trl, openrlhf) a handed-off job was written out for.
    public let engine: String?
    /// The OpenAI-compatible endpoint a sample job asks for answers (an ai-labels job for
    /// judgments), instead of a model version.
    public let endpointId: Int?
    public let rewardModelId: Int?
    /// pause or cancel, asked while running and not yet acted on.
    public let requested: String?
    public let automatic: Bool
    public let step: Int
    public let totalSteps: Int?
    public let secondsRunning: Double
    /// Seconds left at the pace so far, once a step is done.
    public let secondsLeft: Double?
    public let attempts: Int
    public let error: String?
    public let resultModelId: Int?
    public let createdBy: Int?
    public let createdAt: String
    public let startedAt: String?
    public let finishedAt: String?

    init(row: Row) throws {
        id = try row.int("id")
        projectId = try row.int("project_id")
        guard let kind = JobKind(rawValue: try row.string("kind")), let status = JobStatus(rawValue: try row.string("status")) else {
            throw StorageError("job \(try row.int("id")): unknown kind or status")
        }
        (self.kind, self.status) = (kind, status)
        parameters = try JSONParser.parse(try row.string("parameters"))
        baseModelId = row.optionalInt("base_model_id")
        endpointId = row.optionalInt("endpoint_id")
        engine = row.optionalString("engine")
        rewardModelId = row.optionalInt("reward_model_id")
        requested = row.optionalString("requested")
        automatic = try row.int("automatic") == 1
        step = try row.int("step")
        totalSteps = row.optionalInt("total_steps")
        secondsRunning = try row.double("seconds_running")
        if let totalSteps, step > 0, !status.isFinished {
            secondsLeft = secondsRunning / Double(step) * Double(max(0, totalSteps - step))
        } else {
            secondsLeft = nil
        }
        attempts = try row.int("attempts")
        error = row.optionalString("error")
        resultModelId = row.optionalInt("result_model_id")
        createdBy = row.optionalInt("created_by")
        createdAt = try row.string("created_at")
        startedAt = row.optionalString("started_at")
        finishedAt = row.optionalString("finished_at")
    }
}

extension Job {
    /// The name of the model version the job makes when it is given none: the project's name
    /// (lower case, letters, digits and dashes), the stage and the job, as `fruit-loop-rloo-3`.
    public func defaultVersionName(projectName: String?) -> String {
        let words = (projectName ?? "").lowercased().split { !($0.isLetter || $0.isNumber) || !$0.isASCII }
        return "\(words.isEmpty ? "project" : String(words.joined(separator: "-").prefix(60)))-\(kind.rawValue)-\(id)"
    }
}

/// A metric a job reported: TRL's name, at an optimizer step, in training or evaluation.
public struct JobMetric: Sendable, Encodable, Equatable {
    public let phase: String
    public let step: Int
    public let name: String
    public let value: Double

    public init(phase: String, step: Int, name: String, value: Double) {
        (self.phase, self.step, self.name, self.value) = (phase, step, name, value)
    }
}

/// An answer the policy wrote at an evaluation step.
public struct JobSample: Sendable, Encodable {
    public let step: Int
    public let prompt: String
    public let answer: String
    public let reward: Double?
    public let ended: Bool

    public init(step: Int, prompt: String, answer: String, reward: Double?, ended: Bool) {
        (self.step, self.prompt, self.answer, self.reward, self.ended) = (step, prompt, answer, reward, ended)
    }
}

public struct JobLogLine: Sendable, Encodable {
    public let id: Int
    public let at: String
    public let line: String
}

/// Jobs in SQLite: queued by people (or the loop), claimed and reported on by a worker. Every
/// write here is one short statement or transaction, so a training worker never holds the
/// writer long enough for a labeler to notice.
public struct JobRepository: Sendable {
    private static let columns = """
        id, project_id, kind, status, parameters, base_model_id, endpoint_id, engine, reward_model_id, requested, automatic, step, total_steps, seconds_running,
        attempts, error, result_model_id, created_by, created_at, started_at, finished_at
        """

    public init() {}

    /// Queues a job after checking what it starts from: the project, the base model (or for a
    /// sampling job the endpoint its answers come from), and for the policy stages a reward model.
    public func enqueue(projectID: Int, kind: JobKind, parameters: JSONValue, baseModelID: Int?, endpointID: Int? = nil, rewardModelID: Int?,
                        createdBy: Int?, automatic: Bool = false, in database: Database) throws -> Job {
        guard try ProjectRepository().find(id: projectID, in: database) != nil else { throw LabelingError("there is no project \(projectID)", kind: .notFound) }
        switch (baseModelID, endpointID) {
        case (nil, nil): throw LabelingError("field 'baseModelId': a job starts from a model version (or, for a sample or ai-labels job, from an endpoint: 'endpointId')")
        case (.some, .some): throw LabelingError("fields 'baseModelId' and 'endpointId': a job starts from a model version or an endpoint, not both")
        case (nil, let endpointID?):
            guard kind == .sample || kind == .aiLabels else {
                throw LabelingError("field 'endpointId': a \(kind.rawValue) job starts from a model version; only a sample job (its answers) or an ai-labels job (its judgments) starts from an endpoint")
            }
            guard let endpoint = try ModelEndpointRepository().find(id: endpointID, in: database) else {
                throw LabelingError("field 'endpointId': there is no endpoint \(endpointID)")
            }
            guard endpoint.removedAt == nil else { throw LabelingError("field 'endpointId': endpoint '\(endpoint.name)' was removed at \(endpoint.removedAt!)") }
        case (let baseModelID?, nil):
            guard let base = try ModelVersionRepository().find(id: baseModelID, in: database) else {
                throw LabelingError("field 'baseModelId': there is no model version \(baseModelID)")
            }
            // Every kind starts from a policy (a reward job gives the policy's trunk a new head),
            // but a reward model's evaluation, which starts from the reward model.
            if kind == .aiLabels {
                // Either judge: a reward model by its scores, a policy by a rubric.
            } else if kind == .rewardEvaluation {
                guard base.kind == "reward" else {
                    throw LabelingError("field 'baseModelId': model version \(baseModelID) is a \(base.kind) model; a reward-evaluation job evaluates a reward model")
                }
            } else if base.kind == "reward" {
                throw LabelingError("field 'baseModelId': model version \(baseModelID) is a reward model; a \(kind.rawValue) job starts from a policy")
            }
        }
        if kind.needsRewardModel {
            guard let rewardModelID else { throw LabelingError("field 'rewardModelId': a \(kind.rawValue) job needs the reward model to optimize against") }
            guard let reward = try ModelVersionRepository().find(id: rewardModelID, in: database) else {
                throw LabelingError("field 'rewardModelId': there is no model version \(rewardModelID)")
            }
            guard reward.kind == "reward" else { throw LabelingError("field 'rewardModelId': model version \(rewardModelID) is a \(reward.kind) model, not a reward model") }
        } else if rewardModelID != nil {
            throw LabelingError("field 'rewardModelId': a \(kind.rawValue) job uses no reward model")
        }
        guard case .object = parameters else { throw LabelingError("field 'parameters' must be an object") }
        if kind == .evaluation, try database.queryScalarInt("SELECT count(*) FROM prompts WHERE project_id = ? AND split <> 'train'", [projectID]) == 0 {
            throw LabelingError("an evaluation job answers the project's held-out prompts (split validation or test), and project \(projectID) has none")
        }
        if kind == .evaluation, case .array(let opponents)? = parameters["opponents"] {
            for case .integer(let id) in opponents {
                guard let opponent = try ModelVersionRepository().find(id: Int(id), in: database), opponent.kind != "reward", Int(id) != baseModelID else {
                    throw LabelingError("field 'parameters.opponents': \(id) is not another policy's model version")
                }
            }
        }
        try database.execute("""
            INSERT INTO jobs (project_id, kind, parameters, base_model_id, endpoint_id, reward_model_id, automatic, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [projectID, kind.rawValue, JSONWriter.string(parameters), baseModelID, endpointID, rewardModelID, automatic ? 1 : 0, createdBy])
        return try find(id: Int(database.lastInsertRowID), in: database)!
    }

    /// Queues a job the loop starts by itself (a new policy's answers for the prompts waiting
    /// for rankings), unless one of that kind is already queued for the project; returns it
    /// when queued.
    public func enqueueAutomatic(projectID: Int, kind: JobKind, baseModelID: Int, in database: Database) throws -> Job? {
        let queued = try database.queryScalarInt("SELECT count(*) FROM jobs WHERE project_id = ? AND kind = ? AND automatic = 1 AND status = 'queued'",
                                                 [projectID, kind.rawValue]) ?? 0
        guard queued == 0 else { return nil }
        return try enqueue(projectID: projectID, kind: kind, parameters: .object([]), baseModelID: baseModelID, rewardModelID: nil,
                           createdBy: nil, automatic: true, in: database)
    }

    public func find(id: Int, in database: Database) throws -> Job? {
        try database.queryOne("SELECT \(Self.columns) FROM jobs WHERE id = ?", [id]).map(Job.init(row:))
    }

    public func jobs(projectID: Int, in database: Database) throws -> [Job] {
        try database.query("SELECT \(Self.columns) FROM jobs WHERE project_id = ? ORDER BY id DESC", [projectID]).map(Job.init(row:))
    }

    /// Running jobs whose worker has been silent for `leaseSeconds` were interrupted (a crash, a
    /// kill -9, a restart): they go back to the queue to resume from their checkpoint, or fail
    /// once they have been started `maximumAttempts` times. Returns the ids put back.
    public func recoverAbandoned(leaseSeconds: Double, maximumAttempts: Int, now: Double, in database: Database) throws -> [Int] {
        let abandoned = try database.query("SELECT id, attempts, worker FROM jobs WHERE status = 'running' AND heartbeat_at < ?", [now - leaseSeconds])
        var requeued: [Int] = []
        for row in abandoned {
            let id = try row.int("id"), attempts = try row.int("attempts")
            if attempts >= maximumAttempts {
                try finish(id: id, status: .failed, error: "interrupted \(attempts) times (its worker stopped answering each time); not retried again", in: database)
            } else {
                try database.execute("UPDATE jobs SET status = 'queued', worker = NULL, heartbeat_at = NULL WHERE id = ? AND status = 'running'", [id])
                try log(jobID: id, "Interrupted: its worker (\(try row.string("worker"))) stopped answering; queued to resume from its last checkpoint.", in: database)
                requeued.append(id)
            }
        }
        return requeued
    }

    /// Takes the next queued job of the given kinds for `worker` and marks it running: sampling
    /// and evaluation jobs first (minutes of work that put tasks in front of labelers), then
    /// training jobs (hours), each oldest first. Interactive generation comes before both: it
    /// runs beside the worker at a higher priority (`ChatGenerator`).
    public func claimNext(worker: String, kinds: [JobKind] = JobKind.allCases, now: Double, in database: Database) throws -> Job? {
        let kindsJSON = JSONWriter.string(.array(kinds.map { .string($0.rawValue) }))
        guard let id = try database.queryScalarInt("""
            SELECT id FROM jobs WHERE status = 'queued' AND kind IN (SELECT value FROM json_each(?))
            ORDER BY kind IN ('sample', 'evaluation') DESC, id LIMIT 1
            """, [kindsJSON]) else { return nil }
        try database.execute("""
            UPDATE jobs SET status = 'running', worker = ?, heartbeat_at = ?, attempts = attempts + 1, requested = NULL,
                   started_at = coalesce(started_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
            WHERE id = ? AND status = 'queued'
            """, [worker, now, id])
        return try find(id: id, in: database)
    }

    /// The worker's "still here": refreshes the lease and returns what a person asked for since
    /// (pause or cancel), or throws when the job is no longer this worker's.
    public func heartbeat(jobID: Int, worker: String, now: Double, in database: Database) throws -> String? {
        try database.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND worker = ?", [now, jobID, worker])
        guard database.changes == 1 else { throw LabelingError("job \(jobID) is no longer held by this worker", kind: .conflict) }
        return try database.queryScalarText("SELECT requested FROM jobs WHERE id = ?", [jobID])
    }

    /// Gives a running job back to the queue when its worker stops in good order (its
    /// checkpoint saved): not counted as an interrupted attempt.
    public func release(jobID: Int, worker: String, in database: Database) throws {
        try database.execute("UPDATE jobs SET status = 'queued', worker = NULL, heartbeat_at = NULL, attempts = max(0, attempts - 1) WHERE id = ? AND worker = ?",
                             [jobID, worker])
    }

    /// Records a report: the step reached, the total, the time spent and the metrics. A
    /// non-finite metric is refused: the caller fails the job, naming it.
    public func report(jobID: Int, worker: String, step: Int, totalSteps: Int, secondsRunning: Double, metrics: [JobMetric],
                       samples: [JobSample] = [], in database: Database) throws {
        if let bad = metrics.first(where: { !$0.value.isFinite }) {
            throw LabelingError("the metric '\(bad.name)' is \(bad.value) at step \(bad.step)")
        }
        try database.execute("UPDATE jobs SET step = ?, total_steps = ?, seconds_running = ? WHERE id = ? AND worker = ?",
                             [step, totalSteps, secondsRunning, jobID, worker])
        guard database.changes == 1 else { throw LabelingError("job \(jobID) is no longer held by this worker", kind: .conflict) }
        for metric in metrics {
            try database.execute("INSERT OR REPLACE INTO job_metrics (job_id, phase, step, name, value) VALUES (?, ?, ?, ?, ?)",
                                 [jobID, metric.phase, metric.step, metric.name, metric.value])
        }
        for sample in samples {
            try database.execute("INSERT INTO job_samples (job_id, step, prompt, answer, reward, ended) VALUES (?, ?, ?, ?, ?, ?)",
                                 [jobID, sample.step, sample.prompt, sample.answer, sample.reward, sample.ended ? 1 : 0])
        }
    }

    public func log(jobID: Int, _ line: String, in database: Database) throws {
        try database.execute("INSERT INTO job_log (job_id, line) VALUES (?, ?)", [jobID, line])
    }

    /// Ends a job: succeeded (with the model version it made), failed (with the reason),
    /// cancelled; or paused, to be resumed by a person.
    public func finish(id: Int, status: JobStatus, error: String? = nil, resultModelID: Int? = nil, in database: Database) throws {
        precondition(status != .running && status != .queued)
        try database.execute("""
            UPDATE jobs SET status = ?, error = ?, result_model_id = coalesce(?, result_model_id), worker = NULL, heartbeat_at = NULL, requested = NULL,
                   finished_at = CASE WHEN ? = 'paused' THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END
            WHERE id = ?
            """, [status.rawValue, error, resultModelID, status.rawValue, id])
        try log(jobID: id, status == .failed ? "Failed: \(error ?? "")" : "\(status.rawValue.capitalized).", in: database)
    }

    /// A person's request: cancel (a queued or paused job at once, a running one after its
    /// current step), pause a running or queued job, or resume a paused one.
    public func request(_ action: String, jobID: Int, in database: Database) throws -> Job {
        guard let job = try find(id: jobID, in: database) else { throw LabelingError("there is no job \(jobID)", kind: .notFound) }
        switch (action, job.status) {
        case ("cancel", .queued), ("cancel", .paused), ("cancel", .handedOff):
            try finish(id: jobID, status: .cancelled, in: database)
        case ("cancel", .running), ("pause", .running):
            try database.execute("UPDATE jobs SET requested = ? WHERE id = ? AND status = 'running'", [action, jobID])
            try log(jobID: jobID, "\(action == "cancel" ? "Cancellation" : "A pause") requested; the worker acts after the current step.", in: database)
        case ("pause", .queued):
            try finish(id: jobID, status: .paused, in: database)
        case ("resume", .paused):
            try database.execute("UPDATE jobs SET status = 'queued' WHERE id = ? AND status = 'paused'", [jobID])
            try log(jobID: jobID, "Resumed by a person; queued.", in: database)
        case ("cancel", _), ("pause", _), ("resume", _):
            throw LabelingError("job \(jobID) is \(job.status.rawValue): it cannot be \(action == "cancel" ? "cancelled" : action == "pause" ? "paused" : "resumed")", kind: .conflict)
        default:
            throw LabelingError("field 'action' must be cancel, pause or resume, not '\(action)'")
        }
        return try find(id: jobID, in: database)!
    }

    /// Hands a queued job to a distributed engine: no worker takes it from now on. Its snapshot
    /// is taken here, so the data written out is exactly what the job records.
    public func handOff(jobID: Int, engine: String, in database: Database) throws -> Int {
        guard let job = try find(id: jobID, in: database), job.status == .queued else {
            throw LabelingError("job \(jobID) is not queued, so it cannot be handed to \(engine)", kind: .conflict)
        }
        try database.execute("UPDATE jobs SET status = 'handed-off', engine = ? WHERE id = ? AND status = 'queued'", [engine, jobID])
        let count = try takeSnapshot(jobID: jobID, in: database)
        try log(jobID: jobID, "Handed to \(engine) with a snapshot of \(count) items; `tally import-model` registers what it makes.", in: database)
        return count
    }

    // MARK: Snapshots

    /// Records what the job trains on, once: the project's demonstrations (sft), rankings
    /// (reward, dpo) or prompts (rloo, grpo, ppo, sample) as they are now. A job that resumes
    /// keeps its first snapshot. Returns the number of items in it.
    @discardableResult
    public func takeSnapshot(jobID: Int, in database: Database) throws -> Int {
        guard let job = try find(id: jobID, in: database) else { throw LabelingError("there is no job \(jobID)", kind: .notFound) }
        if let count = try database.queryScalarInt("SELECT count(*) FROM job_snapshot WHERE job_id = ?", [jobID]), count > 0 { return count }
        func snapshotDemonstrations() throws {
            try database.execute("""
                INSERT INTO job_snapshot (job_id, item_kind, item_id)
                SELECT ?1, 'demonstration', d.id FROM current_demonstrations d JOIN prompts p ON p.id = d.prompt_id WHERE p.project_id = ?2
                """, [jobID, job.projectId])
        }
        switch job.kind {
        case .sft:
            try snapshotDemonstrations()
        case .reward, .dpo:
            try database.execute("""
                INSERT INTO job_snapshot (job_id, item_kind, item_id)
                SELECT ?1, 'ranking', r.id FROM current_rankings r JOIN prompts p ON p.id = r.prompt_id WHERE p.project_id = ?2
                """, [jobID, job.projectId])
        case .rloo, .grpo, .ppo:
            try database.execute("INSERT INTO job_snapshot (job_id, item_kind, item_id) SELECT ?1, 'prompt', id FROM prompts WHERE project_id = ?2",
                                 [jobID, job.projectId])
            // PPO-ptx also takes the language-model loss on the project's demonstrations.
            switch job.parameters["ptx-coefficient"] {
            case .double(let coefficient)? where coefficient > 0: try snapshotDemonstrations()
            case .integer(let coefficient)? where coefficient > 0: try snapshotDemonstrations()
            default: break
            }
        case .rewardEvaluation:
            try database.execute("""
                INSERT INTO job_snapshot (job_id, item_kind, item_id)
                SELECT ?1, 'ranking', r.id FROM current_rankings r JOIN prompts p ON p.id = r.prompt_id JOIN users u ON u.id = r.labeler_id
                WHERE p.project_id = ?2 AND (p.split <> 'train' OR u.labeler_group = 'held_out')
                """, [jobID, job.projectId])
        case .evaluation:
            // The held-out prompts (gold prompts are the labelers' test, not the models').
            try database.execute("""
                INSERT INTO job_snapshot (job_id, item_kind, item_id)
                SELECT ?1, 'prompt', p.id FROM prompts p WHERE p.project_id = ?2 AND p.split <> 'train'
                  AND NOT EXISTS (SELECT 1 FROM gold_answers g WHERE g.prompt_id = p.id)
                """, [jobID, job.projectId])
        case .sample, .bestOfN:
            // The prompts short of candidates that no one has ranked yet, of one split (train
            // unless the job names another) and, when the job names one, one category.
            var split = "train", category: String?
            if case .string(let value)? = job.parameters["split"] { split = value }
            if case .string(let value)? = job.parameters["category"] { category = value }
            try database.execute("""
                INSERT INTO job_snapshot (job_id, item_kind, item_id)
                SELECT ?1, 'prompt', p.id FROM prompts p JOIN projects j ON j.id = p.project_id
                WHERE p.project_id = ?2 AND p.split = ?3 AND (?4 IS NULL OR p.category = ?4)
                  AND NOT EXISTS (SELECT 1 FROM current_rankings r WHERE r.prompt_id = p.id)
                  AND NOT EXISTS (SELECT 1 FROM gold_answers g WHERE g.prompt_id = p.id)
                  AND (SELECT count(*) FROM candidates c WHERE c.prompt_id = p.id) < j.ranking_size
                """, [jobID, job.projectId, split, category])
        case .aiLabels:
            // Every prompt with candidates to rank but a live conversation's turns (those are
            // their labeler's own).
            try database.execute("""
                INSERT INTO job_snapshot (job_id, item_kind, item_id)
                SELECT ?1, 'prompt', p.id FROM prompts p WHERE p.project_id = ?2
                  AND (SELECT count(*) FROM candidates c WHERE c.prompt_id = p.id) >= 2
                  AND NOT EXISTS (SELECT 1 FROM conversation_turns t WHERE t.prompt_id = p.id)
                """, [jobID, job.projectId])
        case .selfInstruct:
            // The seed tasks: the project's text prompts written by people.
            try database.execute("""
                INSERT INTO job_snapshot (job_id, item_kind, item_id)
                SELECT ?1, 'prompt', id FROM prompts WHERE project_id = ?2 AND kind = 'text' AND source <> 'model'
                """, [jobID, job.projectId])
        }
        return try database.queryScalarInt("SELECT count(*) FROM job_snapshot WHERE job_id = ?", [jobID]) ?? 0
    }

    /// The ids of one kind in the job's snapshot.
    public func snapshotIDs(jobID: Int, itemKind: String, in database: Database) throws -> [Int] {
        try database.query("SELECT item_id FROM job_snapshot WHERE job_id = ? AND item_kind = ? ORDER BY item_id", [jobID, itemKind]).map { try $0.int("item_id") }
    }

    // MARK: What the dashboard reads

    /// Metrics after `afterStep` (all of them from -1), in step order.
    public func metrics(jobID: Int, afterStep: Int = -1, in database: Database) throws -> [JobMetric] {
        try database.query("SELECT phase, step, name, value FROM job_metrics WHERE job_id = ? AND step > ? ORDER BY step, phase, name", [jobID, afterStep]).map {
            JobMetric(phase: try $0.string("phase"), step: try $0.int("step"), name: try $0.string("name"), value: try $0.double("value"))
        }
    }

    public func samples(jobID: Int, in database: Database) throws -> [JobSample] {
        try database.query("SELECT step, prompt, answer, reward, ended FROM job_samples WHERE job_id = ? ORDER BY id", [jobID]).map {
            JobSample(step: try $0.int("step"), prompt: try $0.string("prompt"), answer: try $0.string("answer"), reward: $0.optionalDouble("reward"),
                      ended: try $0.int("ended") == 1)
        }
    }

    public func logLines(jobID: Int, in database: Database) throws -> [JobLogLine] {
        try database.query("SELECT id, at, line FROM job_log WHERE job_id = ? ORDER BY id", [jobID]).map {
            JobLogLine(id: try $0.int("id"), at: try $0.string("at"), line: try $0.string("line"))
        }
    }
}
