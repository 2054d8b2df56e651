import Foundation
import Labeling
import Storage
import Training
import TransformerCore

/// The evaluation job: a model version answers the project's held-out prompts (one answer each),
/// each answer is paired blind with the other versions' answers to the same prompt, and every
/// reward model scores the answers it has not scored, for its agreement with the labelers.
extension JobRun {
    func answerHeldOutPrompts(with policyVersion: ModelVersion, sampling: CandidateSampling, opponents: [Int]?) throws {
        guard policyVersion.kind != "reward" else { throw JobFailure("model version '\(policyVersion.name)' is a reward model; an evaluation compares policies") }
        let evaluations = EvaluationRepository()
        guard try !read({ try self.jobs.snapshotIDs(jobID: self.job.id, itemKind: "prompt", in: $0) }).isEmpty else {
            throw JobFailure("the project has no held-out prompts (split validation or test) to evaluate on")
        }
        var prompts = try read { try evaluations.promptsToAnswer(projectID: self.job.projectId, modelVersionID: policyVersion.id, jobID: self.job.id, in: $0) }
        if let maximum = sampling.maximumPrompts { prompts = Array(prompts.prefix(maximum)) }
        if prompts.isEmpty {
            try note("\(policyVersion.name) has answered every held-out prompt of the snapshot (prompts marked validation or test) already.")
        } else {
            let policy = try PretrainedModel.load(policyVersion.checkpointPath)
            guard policy.chatTemplate != nil else { throw JobFailure("model version '\(policyVersion.name)' has no chat template, so its answers cannot be sampled") }
            let sampler = PolicyAnswers(policy: policy, sampling: sampling)
            let batches = stride(from: 0, to: prompts.count, by: 8).map { Array(prompts[$0..<min(prompts.count, $0 + 8)]) }
            try note("Answering \(prompts.count) held-out prompts with \(policyVersion.name), one answer each, paired with "
                     + (opponents.map { "the answers of versions \($0.map(String.init).joined(separator: ", "))" } ?? "every other version's answers") + ".")
            var pairs = 0, unended = 0
            for (index, batch) in batches.enumerated() {
                if try stoppedBetweenBatches() { return }
                // The seed follows the prompt, not the batch, so a resumed job gives the same answers.
                let answers = try sampler.sample(batch.map { SnapshotExamples.messages($0.content) }, seed: sampling.seed &+ UInt64(batch[0].id))
                unended += answers.filter { !$0.ended }.count
                let new = zip(batch, answers).map { NewEvaluationAnswer(promptID: $0.id, text: $1.text, ended: $1.ended) }
                let job = job
                pairs += try write { try evaluations.store(new, modelVersionID: policyVersion.id, jobID: job.id, projectID: job.projectId, opponents: opponents, in: $0) }
                report(TrainingProgress(phase: .training, step: index + 1, totalSteps: batches.count, epoch: Double(index + 1) / Double(batches.count),
                                        elapsedSeconds: Date().timeIntervalSince(started), metrics: [("pairs_made", Double(pairs))]))
                if let failure { throw JobFailure(failure) }
            }
            try note("Made \(pairs) pairs for the labelers to judge; \(unended) of \(prompts.count) answers reached the \(sampling.maximumNewTokens)-token limit.")
        }
        try scoreEvaluationAnswers()
        try write { try self.jobs.finish(id: self.job.id, status: .succeeded, in: $0) }
    }

    /// Every reward model the project can use (its own and those registered as bases) scores
    /// the paired answers it has not scored yet.
    private func scoreEvaluationAnswers() throws {
        let evaluations = EvaluationRepository()
        let rewardModels = try read { database in
            try ModelVersionRepository().all(in: database).filter { $0.kind == "reward" && ($0.projectId == nil || $0.projectId == self.job.projectId) }
        }
        for version in rewardModels {
            let answers = try read { try evaluations.unscoredAnswers(projectID: self.job.projectId, rewardModelID: version.id, in: $0) }
            guard !answers.isEmpty else { continue }
            if try stoppedBetweenBatches() { return }
            let model: RewardModel
            do { model = try RewardModel(contentsOf: version.checkpointPath) } catch {
                try note("Reward model \(version.name) could not be loaded, so it scores nothing here: \(error)")
                continue
            }
            let rewards = try answers.map { (answerID: $0.id, reward: try model.reward(prompt: SnapshotExamples.messages($0.prompt), answer: $0.text)) }
            try write { try evaluations.storeRewards(rewards, rewardModelID: version.id, in: $0) }
            try note("Reward model \(version.name) scored \(rewards.count) evaluation answers.")
        }
    }
}

/// The reward-evaluation job: a reward model's accuracy on the project's held-out rankings, as
/// `tally eval reward` reports it, stored as the job's evaluation metrics under TRL's names.
extension JobRun {
    func evaluateRewardModel(_ version: ModelVersion, maximumLength: Int) throws {
        let examples = try read { try SnapshotExamples.rankings(jobID: self.job.id, projectID: self.job.projectId, in: $0) }
        guard !examples.isEmpty else {
            throw JobFailure("the project has no held-out rankings (of prompts marked validation or test, or by held-out labelers) to evaluate on")
        }
        let model: RewardModel
        do { model = try RewardModel(contentsOf: version.checkpointPath) } catch {
            throw JobFailure("reward model '\(version.name)' could not be loaded: \(error)")
        }
        let encoder = try ExampleEncoder(model: model.base, maximumLength: maximumLength)
        let rankings = try examples.map(encoder.encode)
        try note("Evaluating \(version.name) on \(rankings.count) held-out rankings (\(rankings.filter(\.wasTruncated).count) cut to \(maximumLength) tokens).")
        if try stoppedBetweenBatches() { return }
        let evaluation = try RewardEvaluation.evaluate(model, on: rankings)
        var metrics: [(name: String, value: Double)] = [
            ("eval_accuracy", evaluation.overall.accuracy), ("eval_length_baseline_accuracy", evaluation.lengthBaselineAccuracy),
            ("eval_loss", evaluation.meanLoss), ("eval_pairs", Double(evaluation.overall.pairs)),
        ]
        for (group, tally) in evaluation.byGroup.sorted(by: { $0.key < $1.key }) { metrics.append(("eval_accuracy_\(group)", tally.accuracy)) }
        report(TrainingProgress(phase: .validation, step: 1, totalSteps: 1, epoch: 1, elapsedSeconds: Date().timeIntervalSince(started), metrics: metrics))
        if let failure { throw JobFailure(failure) }
        try note(String(format: "Accuracy %.1f%% on %d pairs (\"longer answer wins\" %.1f%%, chance 50%%).",
                        100 * evaluation.overall.accuracy, evaluation.overall.pairs, 100 * evaluation.lengthBaselineAccuracy)
                 + evaluation.byGroup.sorted(by: { $0.key < $1.key }).map { String(format: " %@ labelers: %.1f%% of %d.", $0.key, 100 * $0.value.accuracy, $0.value.pairs) }.joined())
        try write { try self.jobs.finish(id: self.job.id, status: .succeeded, in: $0) }
    }
}
