import JSON
import Storage

/// A project's rule for retraining by itself (`retrainAfterRankings`, Docs/jobs.md): once that
/// many rankings have arrived that the newest reward job did not take, queue the last reward job
/// a person started again (same base, same parameters) on all the rankings; once that automatic
/// reward job has made its model, queue the last RLOO, GRPO or PPO job a person started again
/// against the new reward model. The worker asks between jobs, in one short write.
///
/// A rule repeats what a person set up rather than inventing a configuration: a project whose
/// researchers never trained a reward model has nothing to repeat, and the rule waits. At most
/// one reward job and one policy job are pending (queued, running or paused) at a time, and a
/// failed automatic job does not retry until the next N rankings.
public struct RetrainingRule: Sendable {
    private let jobs = JobRepository()
    private static let pending = "('queued', 'running', 'paused')"
    private static let policyKinds = "('rloo', 'grpo', 'ppo')"

    public init() {}

    /// Queues what the projects' rules call for now; returns the jobs queued.
    public func queueDueJobs(in database: Database) throws -> [Job] {
        var queued: [Job] = []
        for project in try ProjectRepository().all(in: database) where project.retrainAfterRankings > 0 {
            if let job = try rewardJobDue(project, in: database) { queued.append(job) }
            if let job = try policyJobDue(project, in: database) { queued.append(job) }
        }
        return queued
    }

    private func rewardJobDue(_ project: Project, in database: Database) throws -> Job? {
        guard try count("SELECT count(*) FROM jobs WHERE project_id = ? AND kind = 'reward' AND status IN \(Self.pending)", [project.id], in: database) == 0,
              let template = try latestPersonStarted("kind = 'reward'", project: project, in: database) else { return nil }
        // The rankings the newest reward job to start (whatever became of it) did not take.
        let newest = try database.queryScalarInt("""
            SELECT max(id) FROM jobs WHERE project_id = ? AND kind = 'reward' AND EXISTS (SELECT 1 FROM job_snapshot s WHERE s.job_id = jobs.id)
            """, [project.id]) ?? template.id
        let arrived = try count("""
            SELECT count(*) FROM current_rankings r JOIN prompts p ON p.id = r.prompt_id WHERE p.project_id = ?
              AND r.id NOT IN (SELECT item_id FROM job_snapshot WHERE job_id = ? AND item_kind = 'ranking')
            """, [project.id, newest], in: database)
        guard arrived >= project.retrainAfterRankings else { return nil }
        let job = try jobs.enqueue(projectID: project.id, kind: .reward, parameters: Self.withoutName(template.parameters), baseModelID: template.baseModelId, endpointID: template.endpointId,
                                   rewardModelID: nil, createdBy: nil, automatic: true, in: database)
        try jobs.log(jobID: job.id, "Queued by the project's retraining rule (every \(project.retrainAfterRankings) rankings): \(arrived) rankings since job \(newest); "
                     + "it repeats job \(template.id).", in: database)
        return job
    }

    private func policyJobDue(_ project: Project, in database: Database) throws -> Job? {
        guard let reward = try database.queryOne("""
                SELECT id, result_model_id FROM jobs WHERE project_id = ? AND kind = 'reward' AND automatic = 1 AND status = 'succeeded'
                  AND result_model_id IS NOT NULL ORDER BY id DESC LIMIT 1
                """, [project.id]),
              let rewardModelID = reward.optionalInt("result_model_id"),
              try count("SELECT count(*) FROM jobs WHERE reward_model_id = ?", [rewardModelID], in: database) == 0,
              try count("SELECT count(*) FROM jobs WHERE project_id = ? AND kind IN \(Self.policyKinds) AND status IN \(Self.pending)", [project.id], in: database) == 0,
              let template = try latestPersonStarted("kind IN \(Self.policyKinds)", project: project, in: database) else { return nil }
        let job = try jobs.enqueue(projectID: project.id, kind: template.kind, parameters: Self.withoutName(template.parameters), baseModelID: template.baseModelId, endpointID: template.endpointId,
                                   rewardModelID: rewardModelID, createdBy: nil, automatic: true, in: database)
        try jobs.log(jobID: job.id, "Queued by the project's retraining rule: the reward model of job \(try reward.int("id")) is new; it repeats job \(template.id) against it.",
                     in: database)
        return job
    }

    /// The newest job of the project a person started that succeeded, of the kinds `condition` names.
    private func latestPersonStarted(_ condition: String, project: Project, in database: Database) throws -> Job? {
        guard let id = try database.queryScalarInt("""
            SELECT id FROM jobs WHERE project_id = ? AND \(condition) AND automatic = 0 AND status = 'succeeded' ORDER BY id DESC LIMIT 1
            """, [project.id]) else { return nil }
        return try jobs.find(id: id, in: database)
    }

    private func count(_ sql: String, _ arguments: StatementArguments, in database: Database) throws -> Int {
        try database.queryScalarInt(sql, arguments) ?? 0
    }

    /// A repeated job takes its default name (kind and job id): the person's name is their first version's.
    private static func withoutName(_ parameters: JSONValue) -> JSONValue {
        guard case .object(let members) = parameters else { return parameters }
        return .object(members.filter { $0.key != "name" })
    }
}
