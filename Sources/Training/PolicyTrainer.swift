import Foundation
import TransformerCore

/// Policy optimization against a reward, held near a frozen reference (the SFT policy) by a KL
/// penalty: PPO (per-token KL in the reward, GAE from a value function, clipped token ratios),
/// RLOO and GRPO (the KL folded into each answer's reward, a baseline from the other answers to
/// its prompt, clipped answer ratios, no value function). One iteration:
///
/// 1. sample k answers to each of B prompts at temperature T (no top-k or top-p);
/// 2. the reference's log-probabilities of the same tokens at the same T, the reward model's
///    score of each answer (less `missingEndPenalty` for one cut at the length limit);
/// 3. rewards and advantages: RLOO/GRPO's score - beta * KL per answer, PPO's -beta * KL per
///    token plus the score on the last token, through GAE;
/// 4. `updateEpochs` passes over the episodes in `minibatches` shuffled minibatches, each an
///    AdamW step on the clipped objective (plus PPO's value loss and PPO-ptx's language-model
///    loss on demonstrations).
///
/// The KL that is reported is the one penalized: sum over an answer's tokens of log pi - log
/// pi_ref at the sampling temperature (pi the policy that sampled, before the update).
public final class PolicyTrainer: Trainer {
    public let policy: PretrainedModel
    public let reference: PretrainedModel
    public let reward: any AnswerReward
    public let options: PolicyOptions
    let prompts: [(conversation: [ChatTemplate.Message], tokens: [Int32])]
    let heldOutPrompts: [(conversation: [ChatTemplate.Message], tokens: [Int32])]
    let demonstrations: [EncodedDemonstration]
    let value: ValueFunction?
    let optimizer: AdamW
    var klController: KLController
    public private(set) var step = 0
    /// Asked while an iteration's answers are sampled and between its phases: once it says
    /// yes, the iteration under way is thrown away (nothing of it reaches the policy) and
    /// `train` returns as it does for `shouldStop`. A policy iteration takes tens of seconds on
    /// a CPU, mostly sampling, where the other stages' steps take seconds: this is how a
    /// cancellation acts in the middle of one (`BackgroundTraining.JobRun`).
    public var abandonsIteration: (() -> Bool)?
    public var totalSteps: Int { options.iterations }
    /// The last evaluation's mean reward of held-out answers.
    public private(set) var lastEvaluation: PolicyEvaluation?

    /// `reference` is a copy of the starting policy (`PretrainedModel.copy`) or the SFT model
    /// loaded again; `rewardModel` starts a separate value trunk; `demonstrations` feed PPO-ptx.
    public init(policy: PretrainedModel, reference: PretrainedModel, reward: any AnswerReward, options: PolicyOptions,
                prompts: [PromptExample], heldOutPrompts: [PromptExample] = [], demonstrations: [EncodedDemonstration] = [],
                rewardModel: RewardModel? = nil) throws {
        try options.validate(layerCount: policy.model.blockCount, contextLength: policy.model.contextLength)
        guard !prompts.isEmpty else { throw TrainingOptionError("--prompts", "no prompt is left for training (all are held out)") }
        guard reference.model.parameterCount == policy.model.parameterCount, reference.tokenizer.tokenBytes == policy.tokenizer.tokenBytes else {
            throw TrainingOptionError("--policy", "the reference is not the same model as the policy (another size or vocabulary)")
        }
        if options.pretrainingCoefficient > 0, demonstrations.isEmpty {
            throw TrainingOptionError("--ptx-coefficient", "PPO-ptx needs demonstrations (--ptx-data) to take the language-model loss on")
        }
        if let count = options.trainedBlockCount {
            do { try policy.model.setTrainedBlockCount(count) } catch { throw TrainingOptionError("--trained-blocks", "\(error)") }
        }
        (self.policy, self.reference, self.reward, self.options, self.demonstrations) = (policy, reference, reward, options, demonstrations)
        let encode = { (example: PromptExample) throws -> (conversation: [ChatTemplate.Message], tokens: [Int32]) in
            (example.prompt, Array(try policy.promptTokens(example.prompt).suffix(options.maximumPromptLength)))
        }
        self.prompts = try prompts.map(encode)
        self.heldOutPrompts = try heldOutPrompts.map(encode)
        value = options.advantageEstimator == .generalized
            ? try ValueFunction(placement: options.valueModel, policyWidth: policy.model.finalHiddenWidth, rewardModel: rewardModel, hyperparameters: options.optimizerHyperparameters)
            : nil
        optimizer = AdamW(model: policy.model, hyperparameters: options.optimizerHyperparameters)
        klController = KLController(options: options)
    }

    /// Optimizer steps of the whole run: the learning rate decays linearly over them (TRL's default).
    var optimizerSteps: Int { options.iterations * options.updateEpochs * options.minibatches }

    /// The prompts of `iteration`: a seeded permutation of the training prompts each pass over
    /// them, read B at a time across passes, so a resumed run sees what it would have.
    func promptIndices(ofIteration iteration: Int) -> [Int] {
        let count = prompts.count
        return (0..<options.promptsPerIteration).map { offset in
            let position = iteration * options.promptsPerIteration + offset
            let pass = position / count
            return TrainingSplit.shuffledIndices(count: count, seed: options.seed &+ UInt64(pass) &* 0x9E3779B97F4A7C15)[position % count]
        }
    }

    @discardableResult
    public func train(progress: @escaping (TrainingProgress) -> Void = { _ in }, shouldStop: () -> Bool = { false }) throws -> Bool {
        var reports = ProgressReports(totalSteps: totalSteps, epochAfterStep: { [count = prompts.count, perIteration = options.promptsPerIteration] in
            Double($0 * perIteration) / Double(count)
        }, loggingSteps: options.loggingSteps, send: progress)
        if step == 0, !heldOutPrompts.isEmpty { try evaluate(reports) }
        while step < totalSteps {
            if shouldStop() { return false }
            do { try iterate(&reports) } catch is AbandonedIteration { return false }
            step += 1
            reports.stepEnded(step)
            let evaluates = options.evaluationSteps > 0 ? step % options.evaluationSteps == 0 || step == totalSteps : step == totalSteps
            if evaluates, !heldOutPrompts.isEmpty { try evaluate(reports) }
        }
        return true
    }

    /// Thrown inside an iteration that `abandonsIteration` stopped, before anything changed.
    private struct AbandonedIteration: Error {}

    private func checkAbandoned() throws {
        if abandonsIteration?() == true { throw AbandonedIteration() }
    }

    /// What one iteration's rollouts leave for its updates.
    struct Rollouts {
        var episodes: [Episode]
        /// log pi of each answer token at sampling time: the ratio's denominator.
        var oldLogProbabilities: [[Float]]
        var oldValues: [[Float]]
        /// Per answer (RLOO, GRPO) or per token (PPO, one list per episode).
        var advantages: [[Float]]
        var returns: [[Float]]
    }

    private func iterate(_ reports: inout ProgressReports) throws {
        let started = monotonicSeconds()
        var sampling = options.sampling
        sampling.seed = options.seed &+ UInt64(step + 1) &* 0xD1B54A32D192ED03
        let episodes = try Episode.sample(policy: policy, prompts: promptIndices(ofIteration: step).map { prompts[$0] },
                                          answersPerPrompt: options.answersPerPrompt, options: sampling, isAbandoned: abandonsIteration)
        try checkAbandoned()
        let sampled = monotonicSeconds()
        let referenceLogProbabilities = try reference.answerLogProbabilities(of: episodes, temperature: options.temperature)
        // The ratio's denominator is the policy that sampled, however far later minibatches move
        // it: the sampler's own log-probabilities of the tokens are that policy's (a test holds
        // them to a forward pass's within 1e-3), so RLOO and GRPO need no second forward pass.
        // PPO's old values need one, and its log-probabilities come with them.
        var oldLogProbabilities = episodes.map(\.samplingLogProbabilities), oldValues: [[Float]] = []
        if value != nil {
            (oldLogProbabilities, oldValues) = try scoreWithPolicy(episodes)
        }
        let referenceScored = monotonicSeconds()
        try checkAbandoned()
        let rawScores = try reward.scores(of: episodes)
        let rewardScored = monotonicSeconds()
        try checkAbandoned()
        let scores = Self.penalized(rawScores, episodes: episodes, missingEndPenalty: options.missingEndPenalty)
        let tokenKL = zip(oldLogProbabilities, referenceLogProbabilities).map { zip($0, $1).map(-) }
        let answerKL = tokenKL.map { $0.reduce(0, +) }
        let beta = klController.coefficient

        var rollouts = Rollouts(episodes: episodes, oldLogProbabilities: oldLogProbabilities, oldValues: oldValues, advantages: [], returns: [])
        switch options.advantageEstimator {
        case .leaveOneOut, .groupNormalized:
            let rewards = zip(scores, answerKL).map { $0 - beta * $1 }
            var advantages = options.advantageEstimator == .leaveOneOut
                ? Advantages.leaveOneOut(rewards, groupSize: options.answersPerPrompt)
                : Advantages.groupNormalized(rewards, groupSize: options.answersPerPrompt)
            if options.whitensAdvantages { advantages = Advantages.whitened(advantages) }
            rollouts.advantages = advantages.map { [$0] }
        case .generalized:
            var perToken: [[Float]] = [], returns: [[Float]] = []
            for index in episodes.indices {
                var rewards = tokenKL[index].map { -beta * $0 }
                rewards[rewards.count - 1] += scores[index]
                let estimate = Advantages.generalized(rewards: rewards, values: oldValues[index], discount: options.discount, traceDecay: options.traceDecay)
                perToken.append(estimate.advantages)
                returns.append(estimate.returns)
            }
            if options.whitensAdvantages {
                var flat = Advantages.whitened(perToken.flatMap { $0 })[...]
                perToken = perToken.map { row in defer { flat = flat.dropFirst(row.count) }; return Array(flat.prefix(row.count)) }
            }
            (rollouts.advantages, rollouts.returns) = (perToken, returns)
        }

        var update = UpdateStatistics()
        for epoch in 0..<options.updateEpochs {
            let order = TrainingSplit.shuffledIndices(count: episodes.count, seed: options.seed ^ UInt64(step * 64 + epoch) &* 0x94D049BB133111EB)
            let size = episodes.count / options.minibatches
            for minibatch in 0..<options.minibatches {
                let members = Array(order[(minibatch * size)..<((minibatch + 1) * size)])
                try updatePolicy(on: members, rollouts: rollouts, statistics: &update)
            }
        }
        klController.update(klPerAnswer: mean(answerKL), episodes: episodes.count)
        let updated = monotonicSeconds()

        let lengths = episodes.map { Double($0.answer.count) }
        let endedFraction = Double(episodes.filter(\.ended).count) / Double(episodes.count)
        let answerTokens = episodes.reduce(0) { $0 + $1.answer.count }
        let klPerToken = Double(answerKL.reduce(0, +)) / Double(max(1, answerTokens))
        reports.count(episodes: episodes.count)
        reports.count(tokens: episodes.reduce(0) { $0 + $1.prompt.count + $1.answer.count })
        let scoreValues = rawScores.map(Double.init)
        switch options.advantageEstimator {
        case .leaveOneOut, .groupNormalized:
            // TRL 1.x RLOOTrainer / GRPOTrainer
            reports.add("loss", update.policyLoss.mean)
            reports.add("reward", mean(scoreValues))
            reports.add("reward_std", standardDeviation(scoreValues))
            reports.add("frac_reward_zero_std", Self.fractionOfGroupsWithoutSpread(scoreValues, groupSize: options.answersPerPrompt))
            reports.add("kl", klPerToken)
            reports.add("entropy", update.entropy.mean)
            reports.add("completions/mean_length", mean(lengths))
            reports.add("completions/min_length", lengths.min() ?? 0)
            reports.add("completions/max_length", lengths.max() ?? 0)
            reports.add("completions/clipped_ratio", 1 - endedFraction)
            let terminated = episodes.filter(\.ended).map { Double($0.answer.count) }
            reports.add("completions/mean_terminated_length", terminated.isEmpty ? 0 : mean(terminated))
            reports.add("clip_ratio/low_mean", update.lowClipped.mean)
            reports.add("clip_ratio/high_mean", update.highClipped.mean)
            reports.add("clip_ratio/region_mean", update.lowClipped.mean + update.highClipped.mean)
        case .generalized:
            // trl.experimental.ppo's PPOTrainer
            let nonScore = answerKL.map { Double(-beta * $0) }
            reports.add("loss/policy_avg", update.policyLoss.mean)
            reports.add("loss/value_avg", update.valueLoss.mean)
            reports.add("objective/kl", mean(answerKL.map(Double.init)))
            reports.add("objective/entropy", mean(oldLogProbabilities.map { Double(-$0.reduce(0, +)) }))
            reports.add("objective/non_score_reward", mean(nonScore))
            reports.add("objective/rlhf_reward", mean(scores.map(Double.init)) + mean(nonScore))
            reports.add("objective/scores", mean(scoreValues))
            reports.add("policy/approxkl_avg", update.approximateKL.mean)
            reports.add("policy/clipfrac_avg", update.lowClipped.mean + update.highClipped.mean)
            reports.add("policy/entropy_avg", update.entropy.mean)
            reports.add("val/clipfrac_avg", update.valueClipped.mean)
            reports.add("val/ratio", update.ratio.mean)
            reports.add("val/ratio_var", update.ratio.variance)
            reports.add("val/num_eos_tokens", Double(episodes.filter(\.ended).count))
        }
        if update.pretrainingLoss.count > 0 { reports.add("ptx_loss", update.pretrainingLoss.mean) }
        // Always, whatever the estimator: the penalized KL per answer in nats, the answers' length and ends.
        reports.add("kl_per_answer", mean(answerKL.map(Double.init)))
        reports.add("answer_length", mean(lengths))
        reports.add("ended_fraction", endedFraction)
        reports.add("beta", Double(beta))
        reports.add("grad_norm", update.gradientNorm.mean)
        reports.add("learning_rate", Double(learningRate(atOptimizerStep: optimizer.step)))
        reports.add("iteration_seconds", updated - started)
        // Where an iteration's time goes: sampling, the reference's pass (with the policy's own
        // when it runs), the reward model's, and the updates.
        reports.add("seconds/sampling", sampled - started)
        reports.add("seconds/reference", referenceScored - sampled)
        reports.add("seconds/reward", rewardScored - referenceScored)
        reports.add("seconds/update", updated - rewardScored)
    }

    /// log pi of each answer token (and PPO's values) under the current policy, no backward pass.
    private func scoreWithPolicy(_ episodes: [Episode]) throws -> (logProbabilities: [[Float]], values: [[Float]]) {
        var logProbabilities = [[Float]](repeating: [], count: episodes.count), values = [[Float]](repeating: [], count: episodes.count)
        for pass in AnswerBatch.passes(episodes) {
            let batch = AnswerBatch(pass.map { episodes[$0] })
            try batch.forward(policy.model, forBackward: false)
            for (index, row) in zip(pass, try batch.answerLogProbabilities(policy.model, temperature: options.temperature)) { logProbabilities[index] = row }
            if let value {
                for (index, row) in zip(pass, try value.values(of: batch, policy: policy.model, forBackward: false)) { values[index] = row }
            }
        }
        return (logProbabilities, values)
    }

    /// Running sums of what the updates of one iteration report.
    struct UpdateStatistics {
        struct Mean {
            var sum = 0.0, squares = 0.0, count = 0
            mutating func add(_ value: Double) { (sum, squares, count) = (sum + value, squares + value * value, count + 1) }
            var mean: Double { count > 0 ? sum / Double(count) : 0 }
            var variance: Double { count > 1 ? max(0, (squares - sum * sum / Double(count)) / Double(count - 1)) : 0 }
        }
        var policyLoss = Mean(), valueLoss = Mean(), pretrainingLoss = Mean(), entropy = Mean(), ratio = Mean()
        var lowClipped = Mean(), highClipped = Mean(), valueClipped = Mean(), approximateKL = Mean(), gradientNorm = Mean()
    }

    /// One optimizer step on the episodes `members`: the clipped objective's gradient through
    /// the core's per-token backward, in passes within the token budget.
    private func updatePolicy(on members: [Int], rollouts: Rollouts, statistics: inout UpdateStatistics) throws {
        let trunk = policy.model
        trunk.zeroGradients()
        value?.zeroGradients()
        let perAnswer = options.advantageEstimator != .generalized
        let tokenCount = Float(members.reduce(0) { $0 + rollouts.episodes[$1].answer.count })
        let weight = perAnswer ? 1 / Float(members.count) : 1 / tokenCount
        var policyLossSum: Float = 0, valueLossSum: Float = 0
        for pass in AnswerBatch.passes(rollouts.episodes, indices: members) {
            let batch = AnswerBatch(pass.map { rollouts.episodes[$0] })
            try batch.forward(trunk, forBackward: true)
            let newLogProbabilities = try batch.answerLogProbabilities(trunk, temperature: options.temperature)
            for entropy in try trunk.tokenEntropies(temperature: options.temperature, positions: batch.answerPositions.flatMap { $0 }) {
                statistics.entropy.add(Double(entropy))
            }
            var gradients: [[Float]] = []
            for (row, index) in pass.enumerated() {
                let new = newLogProbabilities[row], old = rollouts.oldLogProbabilities[index]
                if perAnswer {
                    let advantage = rollouts.advantages[index][0]
                    let term = ClippedObjective.policy(newLogProbability: new.reduce(0, +), oldLogProbability: old.reduce(0, +), advantage: advantage, clipRange: options.clipRange)
                    record(term, advantage: advantage, into: &statistics)
                    policyLossSum += term.loss * weight
                    gradients.append([Float](repeating: term.gradient * weight, count: new.count))
                } else {
                    gradients.append(new.indices.map { t in
                        let advantage = rollouts.advantages[index][t]
                        let term = ClippedObjective.policy(newLogProbability: new[t], oldLogProbability: old[t], advantage: advantage, clipRange: options.clipRange)
                        record(term, advantage: advantage, into: &statistics)
                        statistics.approximateKL.add(Double(0.5 * (new[t] - old[t]) * (new[t] - old[t])))
                        policyLossSum += term.loss * weight
                        return term.gradient * weight
                    })
                }
            }
            var hiddenGradient: [Float]?
            if let value {
                let values = try value.values(of: batch, policy: trunk, forBackward: true)
                var valueGradients: [[Float]] = []
                for (row, index) in pass.enumerated() {
                    valueGradients.append(values[row].indices.map { t in
                        let term = ClippedObjective.value(values[row][t], oldValue: rollouts.oldValues[index][t], target: rollouts.returns[index][t], clipRange: options.valueClipRange)
                        statistics.valueClipped.add(term.isClipped ? 1 : 0)
                        valueLossSum += term.loss * weight
                        return options.valueCoefficient * term.gradient * weight
                    })
                }
                hiddenGradient = try value.backward(valueGradients: valueGradients, batch: batch, policy: trunk)
            }
            try trunk.backward(logProbabilityGradients: batch.flatGradients(gradients), temperature: options.temperature, finalHiddenGradient: hiddenGradient)
        }
        if options.pretrainingCoefficient > 0 { statistics.pretrainingLoss.add(try pretrainingLossBackward(count: members.count)) }
        let gradientNorm = clipGradientNorm([trunk.gradients!] + (value?.gradientBuffers ?? []), maximumNorm: options.maximumGradientNorm)
        let rate = learningRate(atOptimizerStep: optimizer.step)
        optimizer.update(parameters: trunk.parameters, gradients: trunk.gradients!, learningRate: rate)
        value?.update(learningRate: rate)
        statistics.policyLoss.add(Double(policyLossSum))
        if value != nil { statistics.valueLoss.add(Double(valueLossSum)) }
        statistics.gradientNorm.add(Double(gradientNorm))
    }

    private func record(_ term: ClippedObjective.PolicyTerm, advantage: Float, into statistics: inout UpdateStatistics) {
        statistics.ratio.add(Double(term.ratio))
        statistics.lowClipped.add(term.isClipped && advantage < 0 ? 1 : 0)
        statistics.highClipped.add(term.isClipped && advantage > 0 ? 1 : 0)
    }

    /// PPO-ptx: gamma_ptx times the mean cross-entropy of the next `count` demonstrations'
    /// answers, accumulated into the gradients; returns that cross-entropy.
    private func pretrainingLossBackward(count: Int) throws -> Double {
        let start = (optimizer.step * count) % demonstrations.count
        let chosen = (0..<count).map { demonstrations[(start + $0) % demonstrations.count] }
        let answerTokens = chosen.reduce(0) { $0 + $1.tokens.count - $1.responseStart }
        var lossSum = 0.0
        for pass in StepPlan.passes(Array(chosen.indices), length: { chosen[$0].tokens.count }) {
            let batch = SupervisedTrainer.batch(pass.map { chosen[$0] })
            let output = try policy.model.forward(tokens: batch.tokens, targets: batch.targets, attentionMask: nil, positionIDs: nil,
                                                  batchSize: batch.rows, sequenceLength: batch.length, forBackward: true, logits: .targets)
            lossSum += Double(output.loss ?? 0) * Double(batch.answerTokens)
            let weight = -options.pretrainingCoefficient / Float(answerTokens)
            try policy.model.backward(logProbabilityGradients: batch.targets.map { $0 >= 0 ? weight : 0 }, temperature: 1, finalHiddenGradient: nil)
        }
        return lossSum / Double(max(1, answerTokens))
    }

    func learningRate(atOptimizerStep step: Int) -> Float {
        LearningRateSchedule(peakRate: options.learningRate, minimumRate: 0, warmupSteps: 0, totalSteps: optimizerSteps, decay: .linear).rate(at: step)
    }

    /// The scores the rewards are made of: an answer cut at the length limit loses the penalty.
    static func penalized(_ scores: [Float], episodes: [Episode], missingEndPenalty: Float?) -> [Float] {
        zip(scores, episodes).map { score, episode in episode.ended ? score : score - (missingEndPenalty ?? 0) }
    }

    static func fractionOfGroupsWithoutSpread(_ scores: [Double], groupSize k: Int) -> Double {
        guard k >= 2 else { return 0 }
        let groups = stride(from: 0, to: scores.count, by: k).map { Array(scores[$0..<min(scores.count, $0 + k)]) }
        return Double(groups.filter { ($0.max()! - $0.min()!) < 1e-6 }.count) / Double(max(1, groups.count))
    }

    // MARK: Evaluation

    /// One answer to each held-out prompt, sampled with a fixed seed so evaluations compare.
    private func evaluate(_ reports: ProgressReports) throws {
        let evaluation = try PolicyEvaluation(policy: policy, reference: reference, reward: reward, prompts: heldOutPrompts, options: options)
        lastEvaluation = evaluation
        reports.validated(atStep: step, metrics: evaluation.metrics, samples: evaluation.samples)
    }

    // MARK: Checkpoints

    static let klCoefficientName = "kl_coefficient"

    public func saveCheckpoint(in output: String) throws {
        let folder = CheckpointFolder.path(in: output)
        try policy.save(to: folder)
        try value?.save(to: folder)
        let state = TrainingCheckpoint(step: step, bestValidationLoss: nil, options: options, scalars: [Self.klCoefficientName: Double(klController.coefficient)])
        try TrainingCheckpoint.save(state, optimizers: [("policy", optimizer)] + (value?.optimizers ?? []), to: folder)
    }

    /// Continues a run: the policy itself is loaded from the checkpoint by the caller.
    public func resume(from output: String) throws {
        let folder = CheckpointFolder.path(in: output)
        let state = try TrainingCheckpoint<PolicyOptions>.load(from: folder, optimizers: [("policy", optimizer)] + (value?.optimizers ?? []))
        guard state.options == options else {
            throw TrainingOptionError("--resume", "the options differ from the interrupted run's; resume with the same options (saved in \(folder)/\(CheckpointFolder.stateFile))")
        }
        try value?.restore(from: folder)
        step = state.step
        if let coefficient = state.scalars[Self.klCoefficientName] { klController.restore(coefficient: Float(coefficient)) }
    }
}

func mean(_ values: [Double]) -> Double { values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }
func mean(_ values: [Float]) -> Float { values.isEmpty ? 0 : values.reduce(0, +) / Float(values.count) }

/// The sample standard deviation (Bessel's correction), as torch.std.
func standardDeviation(_ values: [Double]) -> Double {
    guard values.count > 1 else { return 0 }
    let m = mean(values)
    return (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot()
}
