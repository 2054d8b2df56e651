import TransformerCore

/// The hyperparameters of policy optimization (PPO, RLOO, GRPO), with each stage's defaults
/// (`Docs/training.md` says where each comes from). One iteration samples `answersPerPrompt`
/// answers to each of `promptsPerIteration` prompts, scores them, and updates the policy on
/// them `updateEpochs` times in `minibatches` minibatches.
public struct PolicyOptions: Sendable, Equatable, Codable {
    /// How an answer's advantage is computed.
    public enum AdvantageEstimator: String, Sendable, Codable, CaseIterable {
        /// PPO: generalized advantage estimation over the tokens, from a value function.
        case generalized = "gae"
        /// RLOO: the answer's reward less the mean reward of the other answers to its prompt.
        case leaveOneOut = "rloo"
        /// GRPO: the answer's reward less its group's mean, over the group's standard deviation.
        case groupNormalized = "grpo"
    }

    /// Where PPO's value function lives.
    public enum ValueModel: String, Sendable, Codable, CaseIterable {
        /// A scalar head on the policy's own trunk: one forward and backward pass serve both.
        case sharedTrunk = "shared"
        /// A trunk of its own, started from the reward model (InstructGPT): twice the work.
        case separateTrunk = "separate"
    }

    public var advantageEstimator: AdvantageEstimator
    public var iterations: Int
    public var promptsPerIteration: Int
    /// k: answers sampled per prompt (RLOO and GRPO need at least 2).
    public var answersPerPrompt: Int
    public var maximumNewTokens: Int
    /// Prompts longer than this many tokens keep their end (the turns nearest the answer).
    public var maximumPromptLength: Int
    /// Sampling and scoring temperature: log-probabilities are those of softmax(logits / T).
    public var temperature: Float
    /// beta: the coefficient of the KL penalty to the reference (SFT) policy.
    public var klCoefficient: Float
    /// lm-human-preferences' adaptive controller: the KL it steers toward, in nats per answer.
    public var klTarget: Float?
    /// The controller's horizon, in episodes.
    public var klHorizon: Int
    /// epsilon of the clipped ratio.
    public var clipRange: Float
    /// PPO: how far a value may move from the one at sampling time before its loss is clipped.
    public var valueClipRange: Float
    /// PPO: the weight of the value loss beside the policy loss.
    public var valueCoefficient: Float
    public var valueModel: ValueModel
    public var discount: Float
    /// GAE's lambda.
    public var traceDecay: Float
    public var updateEpochs: Int
    public var minibatches: Int
    /// Advantages scaled to mean 0 and variance 1 over the iteration's episodes.
    public var whitensAdvantages: Bool
    /// Subtracted from the score of an answer cut at the length limit (TRL's `missing_eos_penalty`).
    public var missingEndPenalty: Float?
    /// gamma_ptx: PPO-ptx's weight of the language-model loss on demonstrations; 0 turns it off.
    public var pretrainingCoefficient: Float
    public var learningRate: Float
    public var maximumGradientNorm: Float
    public var seed: UInt64
    /// The top blocks that train (nil: all of them).
    public var trainedBlockCount: Int?
    public var loggingSteps: Int
    /// Held-out prompts are scored every this many iterations (0: only at the start and end).
    public var evaluationSteps: Int

    /// TRL 1.x's RLOOTrainer: k = 2, beta 0.05 on the sequence KL folded into the reward,
    /// one update epoch in one minibatch, clip 0.2, learning rate 1e-6, no advantage whitening.
    public static let rloo = PolicyOptions(advantageEstimator: .leaveOneOut, iterations: 100, promptsPerIteration: 8, answersPerPrompt: 2,
                                           maximumNewTokens: 64, maximumPromptLength: 256, temperature: 1, klCoefficient: 0.05, klTarget: nil,
                                           klHorizon: 10_000, clipRange: 0.2, valueClipRange: 0.2, valueCoefficient: 0.1, valueModel: .sharedTrunk,
                                           discount: 1, traceDecay: 0.95, updateEpochs: 1, minibatches: 1, whitensAdvantages: false,
                                           missingEndPenalty: nil, pretrainingCoefficient: 0, learningRate: 1e-6, maximumGradientNorm: 1,
                                           seed: 42, trainedBlockCount: nil, loggingSteps: 1, evaluationSteps: 0)

    /// GRPO: RLOO's sampling with the group-normalized advantage.
    public static let grpo: PolicyOptions = {
        var options = rloo
        options.advantageEstimator = .groupNormalized
        return options
    }()

    /// InstructGPT's PPO with TRL's experimental PPOTrainer's loop: one answer per prompt,
    /// beta 0.02 per token, GAE with gamma 1 and lambda 0.95, advantages whitened, four update
    /// epochs, clip 0.2 for the ratio and the value, value loss weight 0.1, learning rate 3e-6.
    public static let ppo: PolicyOptions = {
        var options = rloo
        (options.advantageEstimator, options.answersPerPrompt, options.klCoefficient, options.updateEpochs) = (.generalized, 1, 0.02, 4)
        (options.whitensAdvantages, options.learningRate) = (true, 3e-6)
        return options
    }()

    public var episodesPerIteration: Int { promptsPerIteration * answersPerPrompt }

    /// Refuses settings out of range, naming the command-line option.
    public func validate(layerCount: Int, contextLength: Int) throws {
        guard (1...1_000_000).contains(iterations) else { throw TrainingOptionError("--iterations", "must be from 1 to 1000000, got \(iterations)") }
        guard (1...4096).contains(promptsPerIteration) else { throw TrainingOptionError("--prompts-per-iteration", "must be from 1 to 4096, got \(promptsPerIteration)") }
        let fewestAnswers = advantageEstimator == .generalized ? 1 : 2
        guard (fewestAnswers...64).contains(answersPerPrompt) else {
            throw TrainingOptionError("--answers-per-prompt", "must be from \(fewestAnswers) to 64 for \(advantageEstimator.rawValue), got \(answersPerPrompt)\(fewestAnswers == 2 ? " (the baseline of an answer is the other answers to its prompt)" : "")")
        }
        guard maximumNewTokens >= 1, maximumNewTokens < contextLength else {
            throw TrainingOptionError("--max-new-tokens", "must be from 1 to below the model's context of \(contextLength) tokens, got \(maximumNewTokens)")
        }
        guard maximumPromptLength >= 1, maximumPromptLength + maximumNewTokens <= contextLength else {
            throw TrainingOptionError("--max-prompt-length", "the prompt (\(maximumPromptLength)) and the answer (\(maximumNewTokens)) must fit the model's context of \(contextLength) tokens")
        }
        guard temperature > 0, temperature.isFinite, temperature <= 10 else { throw TrainingOptionError("--temperature", "must be above 0 and at most 10, got \(temperature)") }
        guard klCoefficient >= 0, klCoefficient.isFinite else { throw TrainingOptionError("--kl-coefficient", "must be 0 or positive, got \(klCoefficient)") }
        if let klTarget { guard klTarget > 0, klTarget.isFinite else { throw TrainingOptionError("--kl-target", "must be positive, got \(klTarget)") } }
        guard klHorizon >= 1 else { throw TrainingOptionError("--kl-horizon", "must be at least 1, got \(klHorizon)") }
        guard clipRange > 0, clipRange < 1 else { throw TrainingOptionError("--clip-range", "must be between 0 and 1, got \(clipRange)") }
        guard valueClipRange > 0, valueClipRange.isFinite else { throw TrainingOptionError("--value-clip-range", "must be positive, got \(valueClipRange)") }
        guard valueCoefficient > 0, valueCoefficient.isFinite else { throw TrainingOptionError("--value-coefficient", "must be positive, got \(valueCoefficient)") }
        guard (0...1).contains(discount) else { throw TrainingOptionError("--gamma", "must be from 0 to 1, got \(discount)") }
        guard (0...1).contains(traceDecay) else { throw TrainingOptionError("--lambda", "must be from 0 to 1, got \(traceDecay)") }
        guard (1...64).contains(updateEpochs) else { throw TrainingOptionError("--update-epochs", "must be from 1 to 64, got \(updateEpochs)") }
        guard minibatches >= 1, episodesPerIteration % minibatches == 0 else {
            throw TrainingOptionError("--minibatches", "must divide the \(episodesPerIteration) episodes of an iteration evenly, got \(minibatches)")
        }
        if let missingEndPenalty { guard missingEndPenalty.isFinite, missingEndPenalty >= 0 else { throw TrainingOptionError("--missing-end-penalty", "must be 0 or positive, got \(missingEndPenalty)") } }
        guard pretrainingCoefficient >= 0, pretrainingCoefficient.isFinite else { throw TrainingOptionError("--ptx-coefficient", "must be 0 or positive, got \(pretrainingCoefficient)") }
        guard learningRate > 0, learningRate < 1 else { throw TrainingOptionError("--learning-rate", "must be between 0 and 1, got \(learningRate)") }
        guard maximumGradientNorm > 0 else { throw TrainingOptionError("--max-grad-norm", "must be positive, got \(maximumGradientNorm)") }
        guard loggingSteps >= 1 else { throw TrainingOptionError("--logging-steps", "must be at least 1, got \(loggingSteps)") }
        guard evaluationSteps >= 0 else { throw TrainingOptionError("--eval-steps", "must be 0 or positive, got \(evaluationSteps)") }
        if let trainedBlockCount, !(1...layerCount).contains(trainedBlockCount) {
            throw TrainingOptionError("--trained-blocks", "must be from 1 to the model's \(layerCount) blocks, got \(trainedBlockCount)")
        }
    }

    /// AdamW as PyTorch runs it (betas 0.9 and 0.999, epsilon 1e-8), no weight decay.
    var optimizerHyperparameters: AdamW.Hyperparameters {
        var hyperparameters = AdamW.Hyperparameters()
        (hyperparameters.beta1, hyperparameters.beta2, hyperparameters.epsilon, hyperparameters.weightDecay) = (0.9, 0.999, 1e-8, 0)
        return hyperparameters
    }

    var sampling: SamplingOptions {
        var sampling = SamplingOptions()
        // No top-k or top-p: truncating the distribution would make the estimated KL negative.
        (sampling.temperature, sampling.topK, sampling.topP, sampling.maximumNewTokens) = (temperature, 0, 1, maximumNewTokens)
        return sampling
    }
}
