import Cryptography
import Foundation
import Labeling
import Training
import TransformerCore

/// The `ai-labels` job: a model labels as a labeler would (RLAIF; Bai et al. 2022's
/// Constitutional AI and Lee et al. 2023 use a model's preferences in place of people's). A
/// reward model scores every candidate of the snapshot's prompts and ranks them by score; a
/// policy, or a served model behind a registered endpoint, judges them two at a time by a
/// written rubric (`PairwiseJudge`) and ranks them by expected wins. The rankings go to
/// `ai_rankings`, apart from people's, and the quality report measures the judge's agreement
/// with people on the prompts both ranked.
extension JobRun {
    func labelWithModel(_ version: ModelVersion, rubric given: String?) throws {
        if version.kind == "reward" {
            guard given == nil else { throw JobFailure("parameter 'rubric': a reward model judges by its scores; a rubric is for a policy as the judge") }
            let model: RewardModel
            do { model = try RewardModel(contentsOf: version.checkpointPath) } catch { throw JobFailure("reward model '\(version.name)' could not be loaded: \(error)") }
            try rankCandidates(judge: .model(version.id), name: version.name, rubric: nil) { prompt, answers in
                try model.rewards(of: answers.map { (prompt, $0) }).map(Double.init)
            }
            return
        }
        let rubric = try chosenRubric(given)
        let judge: PairwiseJudge
        do { judge = try PairwiseJudge(model: try PretrainedModel.load(version.checkpointPath), rubric: rubric) } catch {
            throw JobFailure("model version '\(version.name)' cannot judge: \(error)")
        }
        try rankCandidates(judge: .model(version.id), name: version.name, rubric: rubric) { prompt, answers in try judge.expectedWins(prompt: prompt, answers: answers) }
    }

    /// A served model as the judge: each question one greedy, one-token chat completion, read
    /// from its log-probabilities of "A" and "B" (`ChatCompletionsClient.probabilityOfA`).
    func labelWithEndpoint(_ endpointID: Int, rubric given: String?) throws {
        guard let (endpoint, apiKey) = try read({ database in
            try ModelEndpointRepository().find(id: endpointID, in: database).map { ($0, try ModelEndpointRepository().apiKey(endpointID: endpointID, in: database)) }
        }) else { throw JobFailure("the endpoint the job asks for judgments is gone") }
        guard endpoint.removedAt == nil else { throw JobFailure("endpoint '\(endpoint.name)' was removed at \(endpoint.removedAt!)") }
        let client = ChatCompletionsClient(endpoint: endpoint, apiKey: apiKey, tls: try TLSClientContext())
        let rubric = try chosenRubric(given)
        let judge = PairwiseJudge(rubric: rubric, probabilityOfA: client.probabilityOfA)
        try rankCandidates(judge: .endpoint(endpoint.id), name: "endpoint '\(endpoint.name)' (\(endpoint.model))", rubric: rubric) { prompt, answers in
            try judge.expectedWins(prompt: prompt, answers: answers)
        }
    }

    /// The job's rubric, else the project's ranking guidelines, else InstructGPT's criteria.
    private func chosenRubric(_ given: String?) throws -> String {
        if let given { return given }
        let guidelines = try read { try ProjectRepository().find(id: self.job.projectId, in: $0)?.guidelines } ?? ""
        return guidelines.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? PairwiseJudge.defaultRubric : guidelines
    }

    /// Ranks the candidates of the snapshot's prompts by `score` (a reward, or expected wins by
    /// `rubric`), sixteen prompts at a time, each batch written as it comes.
    private func rankCandidates(judge: AIJudge, name: String, rubric: String?,
                                score: (_ prompt: [ChatTemplate.Message], _ answers: [String]) throws -> [Double]) throws {
        let prompts = try read { database in
            try JobRepository().snapshotIDs(jobID: self.job.id, itemKind: "prompt", in: database).compactMap { try PromptRepository().find(id: $0, in: database) }
        }
        try note("Ranking the candidates of \(prompts.count) prompts with \(name) "
                 + (rubric == nil ? "by its scores" : "judging them two at a time by the rubric (each pair in both orders)")
                 + "; the rankings are AI labels, kept apart from people's.")
        let batches = stride(from: 0, to: prompts.count, by: 16).map { Array(prompts[$0..<min(prompts.count, $0 + 16)]) }
        var ranked = 0
        for (index, batch) in batches.enumerated() {
            if try stoppedBetweenBatches() { return }
            let scored = try batch.map { prompt in
                (prompt.id, zip(prompt.candidates, try score(SnapshotExamples.messages(prompt.content), prompt.candidates.map(\.text))).map { (candidateID: $0.id, score: $1) })
            }
            let jobID = job.id
            try write { database in
                for (promptID, scores) in scored {
                    try AIRankingRepository().store(promptID: promptID, judge: judge, jobID: jobID, method: rubric == nil ? "reward-scores" : "rubric",
                                                    rubric: rubric, scores: scores, in: database)
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
