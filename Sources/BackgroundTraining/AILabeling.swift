import Foundation
import Labeling
import Training
import TransformerCore

/// The `ai-labels` job: a model labels as a labeler would (RLAIF; Bai et al. 2022's
/// Constitutional AI and Lee et al. 2023 use a model's preferences in place of people's). A
/// reward model scores every candidate of the snapshot's prompts and ranks them by score; a
/// policy judges them two at a time by a written rubric (`PairwiseJudge`) and ranks them by
/// expected wins. The rankings go to `ai_rankings`, apart from people's, and the quality report
/// measures the judge's agreement with people on the prompts both ranked.
extension JobRun {
    func labelWithModel(_ version: ModelVersion, rubric given: String?) throws {
        let method: String, rubric: String?
        let rank: (_ prompt: [ChatTemplate.Message], _ answers: [String]) throws -> [Double]
        if version.kind == "reward" {
            guard given == nil else { throw JobFailure("parameter 'rubric': a reward model judges by its scores; a rubric is for a policy as the judge") }
            let model: RewardModel
            do { model = try RewardModel(contentsOf: version.checkpointPath) } catch { throw JobFailure("reward model '\(version.name)' could not be loaded: \(error)") }
            (method, rubric) = ("reward-scores", nil)
            rank = { prompt, answers in try model.rewards(of: answers.map { (prompt, $0) }).map(Double.init) }
        } else {
            let guidelines = try read { try ProjectRepository().find(id: self.job.projectId, in: $0)?.guidelines } ?? ""
            let chosen = given ?? (guidelines.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? PairwiseJudge.defaultRubric : guidelines)
            let judge: PairwiseJudge
            do { judge = try PairwiseJudge(model: try PretrainedModel.load(version.checkpointPath), rubric: chosen) } catch {
                throw JobFailure("model version '\(version.name)' cannot judge: \(error)")
            }
            (method, rubric) = ("rubric", chosen)
            rank = { prompt, answers in try judge.expectedWins(prompt: prompt, answers: answers) }
        }
        let prompts = try read { database in
            try JobRepository().snapshotIDs(jobID: self.job.id, itemKind: "prompt", in: database).compactMap { try PromptRepository().find(id: $0, in: database) }
        }
        try note("Ranking the candidates of \(prompts.count) prompts with \(version.name) "
                 + (rubric == nil ? "by its scores" : "judging them two at a time by the rubric (each pair in both orders)")
                 + "; the rankings are AI labels, kept apart from people's.")
        let batches = stride(from: 0, to: prompts.count, by: 16).map { Array(prompts[$0..<min(prompts.count, $0 + 16)]) }
        var ranked = 0
        for (index, batch) in batches.enumerated() {
            if try stoppedBetweenBatches() { return }
            let scored = try batch.map { prompt in
                (prompt.id, zip(prompt.candidates, try rank(SnapshotExamples.messages(prompt.content), prompt.candidates.map(\.text))).map { (candidateID: $0.id, score: $1) })
            }
            let (jobID, modelID) = (job.id, version.id)
            try write { database in
                for (promptID, scores) in scored {
                    try AIRankingRepository().store(promptID: promptID, modelID: modelID, jobID: jobID, method: method, rubric: rubric, scores: scores, in: database)
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
