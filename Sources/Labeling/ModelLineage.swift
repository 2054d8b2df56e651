import Storage

/// A model version with everything it came from: its ancestors back to the pretrained base,
/// and for each one made by a job, that job and the exact labels of its snapshot (rankings and
/// demonstrations by id, the prompts it sampled on). Answers "which labels trained the policy
/// that wrote this answer?".
public struct ModelLineage: Sendable, Encodable {
    public struct Ancestor: Sendable, Encodable {
        public let model: ModelVersion
        public let job: Job?
        /// The job's optimization target, for policies trained against one.
        public let rewardModel: ModelVersion?
        public let rankingIds: [Int]
        /// The rankings the reward model was trained on: labels behind this version too.
        public let rewardModelRankingIds: [Int]
        public let demonstrationIds: [Int]
        public let promptIds: [Int]
    }

    public let model: ModelVersion
    /// The version itself first, then its parent, and so on to the base.
    public let ancestors: [Ancestor]
    /// The labels behind every ancestor together: all that trained this version in the end.
    public let allRankingIds: [Int]
    public let allDemonstrationIds: [Int]

    public static func of(modelID: Int, in database: Database) throws -> ModelLineage? {
        let models = ModelVersionRepository(), jobs = JobRepository()
        guard let model = try models.find(id: modelID, in: database) else { return nil }
        var ancestors: [Ancestor] = [], next: ModelVersion? = model, seen: Set<Int> = []
        while let current = next, seen.insert(current.id).inserted {
            let job = try current.jobId.flatMap { try jobs.find(id: $0, in: database) }
            let ids = { (kind: String) throws -> [Int] in try job.map { try jobs.snapshotIDs(jobID: $0.id, itemKind: kind, in: database) } ?? [] }
            let rewardModel = try job?.rewardModelId.flatMap { try models.find(id: $0, in: database) }
            let rewardRankings = try rewardModel?.jobId.map { try jobs.snapshotIDs(jobID: $0, itemKind: "ranking", in: database) } ?? []
            ancestors.append(Ancestor(model: current, job: job, rewardModel: rewardModel, rankingIds: try ids("ranking"), rewardModelRankingIds: rewardRankings,
                                      demonstrationIds: try ids("demonstration"), promptIds: try ids("prompt")))
            next = try current.parentId.flatMap { try models.find(id: $0, in: database) }
        }
        return ModelLineage(model: model, ancestors: ancestors,
                            allRankingIds: Array(Set(ancestors.flatMap { $0.rankingIds + $0.rewardModelRankingIds })).sorted(),
                            allDemonstrationIds: Array(Set(ancestors.flatMap(\.demonstrationIds))).sorted())
    }
}
