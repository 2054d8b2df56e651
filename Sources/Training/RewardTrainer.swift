import Foundation
import TransformerCore

/// Trains a reward model on rankings: per optimizer step, the mean over its rankings of each
/// ranking's `RankingLoss`, every ranking one batch element with its K answers (InstructGPT),
/// the prompt shared by them (`RankingBatch`). AdamW on the trained tensors and the score head,
/// gradient norm clipped, learning rate warmed up then decayed. After the last step the rewards
/// are shifted so that the training answers average 0.
public final class RewardTrainer: Trainer {
    public let model: RewardModel
    public let options: TrainingOptions
    public let training: [EncodedRanking]
    public let validation: [EncodedRanking]
    let plan: StepPlan
    let trunkOptimizer: AdamW
    let headOptimizer: AdamW
    /// Optimizer steps done.
    public private(set) var step = 0

    /// Rankings that order no pair (every answer tied) carry no loss and are left out of
    /// `training`; they still count among the evaluation's tied pairs.
    public init(model: RewardModel, options: TrainingOptions, training: [EncodedRanking], validation: [EncodedRanking]) throws {
        let training = training.filter { !$0.preferences.isEmpty }
        guard !training.isEmpty else { throw TrainingOptionError("--data", "no ranking that orders a pair is left for training (the others are held out for validation, or tie)") }
        try options.validate(layerCount: model.trunk.blockCount)
        if let count = options.trainedBlockCount {
            do { try model.trunk.setTrainedBlockCount(count) } catch { throw TrainingOptionError("--trained-blocks", "\(error)") }
        }
        (self.model, self.options, self.training, self.validation) = (model, options, training, validation)
        plan = StepPlan(exampleCount: training.count, options: options)
        trunkOptimizer = AdamW(model: model.trunk, hyperparameters: options.optimizerHyperparameters)
        // The head's weights only: its bias stays 0, as Hugging Face's `score` has none.
        headOptimizer = AdamW(tensors: [model.head.weightTensor], parameterCount: model.head.parameters.count, hyperparameters: options.optimizerHyperparameters)
    }

    public var totalSteps: Int { plan.totalSteps }
    public var isFinished: Bool { step >= plan.totalSteps }

    /// Validates at the end of each epoch.
    @discardableResult
    public func train(progress: @escaping (TrainingProgress) -> Void = { _ in }, shouldStop: () -> Bool = { false }) throws -> Bool {
        let trunk = model.trunk
        var reports = ProgressReports(plan: plan, loggingSteps: options.loggingSteps, send: progress)
        while step < plan.totalSteps {
            if shouldStop() { return false }
            let passes = plan.passes(ofStep: step, rows: { options.sharesPrompt ? 1 : training[$0].answers.count },
                                     length: { options.sharesPrompt ? training[$0].tokenCount : training[$0].longestUnsharedRow })
            let rankingsInStep = passes.reduce(0) { $0 + $1.count }
            trunk.zeroGradients()
            model.head.gradients.zero()
            var stepLoss = 0.0, pairs = 0, correct = 0, marginSum = 0.0
            var rewards: [Float] = []
            for pass in passes {
                let rankings = pass.map { training[$0] }
                let batch = RankingBatch(rankings: rankings, sharesPrompt: options.sharesPrompt, padToken: model.padToken)
                try model.checkFits(batch, rankings: rankings[...])
                let scores = try model.scores(of: batch, forBackward: true)
                var gradients: [[Float]] = []
                for (ranking, rankingScores) in zip(rankings, scores) {
                    let loss = RankingLoss(scores: rankingScores, ranks: ranking.ranks)
                    stepLoss += loss.loss / Double(rankingsInStep)
                    (pairs, correct, marginSum) = (pairs + loss.pairCount, correct + loss.correctPairs, marginSum + loss.marginSum)
                    gradients.append(loss.scoreGradients.map { $0 / Float(rankingsInStep) })
                    rewards += rankingScores
                }
                try model.backward(scoreGradients: gradients, batch: batch)
                reports.count(tokens: batch.tokenCount)
            }
            let gradientNorm = clipGradientNorm([trunk.gradients!, model.head.gradients], maximumNorm: options.maximumGradientNorm)
            let learningRate = options.learningRateSchedule(totalSteps: plan.totalSteps).rate(at: step)
            trunkOptimizer.update(parameters: trunk.parameters, gradients: trunk.gradients!, learningRate: learningRate)
            headOptimizer.update(parameters: model.head.parameters, gradients: model.head.gradients, learningRate: learningRate)
            step += 1

            reports.add("loss", stepLoss)
            reports.add("accuracy", pairs > 0 ? Double(correct) / Double(pairs) : 0)
            reports.add("margin", pairs > 0 ? marginSum / Double(pairs) : 0)
            reports.add("mean_reward", Double(rewards.reduce(0, +)) / Double(max(1, rewards.count)))
            reports.add("min_reward", Double(rewards.min() ?? 0))
            reports.add("max_reward", Double(rewards.max() ?? 0))
            reports.add("grad_norm", Double(gradientNorm))
            reports.add("learning_rate", Double(learningRate))
            reports.stepEnded(step)
            if plan.endsEpoch(step), !validation.isEmpty {
                let evaluation = try RewardEvaluation.evaluate(model, on: validation, sharesPrompt: options.sharesPrompt)
                reports.validated(atStep: step, metrics: Self.metrics(of: evaluation))
            }
        }
        return true
    }

    /// The validation report's metrics under TRL's `eval_` names, with the length baseline.
    public static func metrics(of evaluation: RewardEvaluation) -> [(name: String, value: Double)] {
        var metrics: [(name: String, value: Double)] = [
            ("eval_loss", evaluation.meanLoss), ("eval_accuracy", evaluation.overall.accuracy), ("eval_margin", evaluation.meanMargin),
            ("eval_mean_reward", evaluation.meanReward), ("eval_length_baseline_accuracy", evaluation.lengthBaselineAccuracy),
            ("eval_pairs", Double(evaluation.overall.pairs)),
        ]
        for (group, tally) in evaluation.byGroup.sorted(by: { $0.key < $1.key }) where evaluation.byGroup.count > 1 || group != "unknown" {
            metrics.append(("eval_accuracy_\(group)", tally.accuracy))
        }
        return metrics
    }

    /// InstructGPT's shift: the rewards of the training answers (up to `sampleCount` rankings)
    /// average 0 afterwards.
    public func centreRewards(sampleCount: Int = 256) throws {
        let sample = TrainingSplit.shuffledIndices(count: training.count, seed: options.seed).prefix(sampleCount).map { training[$0] }
        model.centre(onRawScores: try model.rawScores(of: sample, sharesPrompt: options.sharesPrompt).flatMap { $0 })
    }

    /// Saves what `resume` needs into `output/checkpoint`: the model, the optimizers, the step.
    public func saveCheckpoint(in output: String) throws {
        let folder = CheckpointFolder.path(in: output)
        try model.save(to: folder)
        try TrainingCheckpoint.save(TrainingCheckpoint(step: step, bestValidationLoss: nil, options: options),
                                    optimizers: [("trunk", trunkOptimizer), ("head", headOptimizer)], to: folder)
    }

    /// Continues a run saved by `saveCheckpoint`; the model must have been loaded from the same
    /// folder, and the options must be the run's own.
    public func resume(from output: String) throws {
        let state = try TrainingCheckpoint<TrainingOptions>.load(from: CheckpointFolder.path(in: output), optimizers: [("trunk", trunkOptimizer), ("head", headOptimizer)])
        guard state.options == options else {
            throw TrainingOptionError("--resume", "the options differ from the interrupted run's; resume with the same options (saved in \(CheckpointFolder.path(in: output))/\(CheckpointFolder.stateFile))")
        }
        step = state.step
    }
}
