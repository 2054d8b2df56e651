import Foundation
import Labeling
import Training

/// The `ai-labels` job: a reward model labels as a labeler would (RLAIF, Bai et al. 2022's
/// "Constitutional AI" and Lee et al. 2023 use a model's preferences in place of people's). It
/// scores every candidate of the snapshot's prompts and ranks them by score, the higher first;
/// the rankings go to `ai_rankings`, apart from people's, and the quality report measures the
/// model's agreement with people on the prompts both ranked.
extension JobRun {
    func labelWithRewardModel(_ version: ModelVersion) throws {
        let model: RewardModel
        do { model = try RewardModel(contentsOf: version.checkpointPath) } catch { throw JobFailure("reward model '\(version.name)' could not be loaded: \(error)") }
        let prompts = try read { database in
            try JobRepository().snapshotIDs(jobID: self.job.id, itemKind: "prompt", in: database).compactMap { try PromptRepository().find(id: $0, in: database) }
        }
        try note("Ranking the candidates of \(prompts.count) prompts by the scores of \(version.name); the rankings are AI labels, kept apart from people's.")
        let batches = stride(from: 0, to: prompts.count, by: 16).map { Array(prompts[$0..<min(prompts.count, $0 + 16)]) }
        var ranked = 0
        for (index, batch) in batches.enumerated() {
            if try stoppedBetweenBatches() { return }
            let scored = try batch.map { prompt in
                let messages = SnapshotExamples.messages(prompt.content)
                return (prompt.id, zip(prompt.candidates, try model.rewards(of: prompt.candidates.map { (messages, $0.text) })).map { (candidateID: $0.id, score: Double($1)) })
            }
            let (jobID, modelID) = (job.id, version.id)
            try write { database in
                for (promptID, scores) in scored {
                    try AIRankingRepository().store(promptID: promptID, modelID: modelID, jobID: jobID, method: "reward-scores", scores: scores, in: database)
                }
            }
            ranked += scored.count
            report(TrainingProgress(phase: .training, step: index + 1, totalSteps: batches.count, epoch: Double(index + 1) / Double(batches.count),
                                    elapsedSeconds: Date().timeIntervalSince(started), metrics: [("prompts_ranked", Double(ranked))]))
            if let failure { throw JobFailure(failure) }
        }
        try note("Ranked \(ranked) prompts; their agreement with people is on the quality report, their comparisons at GET /api/projects/\(job.projectId)/ai-labels.")
        try write { try self.jobs.finish(id: self.job.id, status: .succeeded, in: $0) }
    }
}
