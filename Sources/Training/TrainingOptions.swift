import TransformerCore

/// The hyperparameters of a training run, with defaults for each stage (`Docs/training.md`
/// says where each comes from).
public struct TrainingOptions: Sendable, Equatable, Codable {
    /// The peak learning rate of AdamW.
    public var learningRate: Float
    public var epochs: Int
    /// Examples (demonstrations, or whole rankings) per batch, TRL's per-device batch size. The
    /// forward passes are cut from a step's examples by length (`StepPlan`), not by this.
    public var batchSize: Int
    /// Batches per optimizer step: a step trains on batchSize x gradientAccumulation examples.
    public var gradientAccumulation: Int
    /// The longest prompt-and-answer sequence, in tokens; longer ones are cut (see `ExampleEncoder`).
    public var maximumLength: Int
    /// The share of the steps spent warming the learning rate up from 0.
    public var warmupFraction: Double
    public var schedule: LearningRateSchedule.Decay
    public var seed: UInt64
    /// The top blocks that train (nil: all of them).
    public var trainedBlockCount: Int?
    /// The share of prompts held out for validation when no record names its split.
    public var validationFraction: Double
    public var maximumGradientNorm: Float
    public var weightDecay: Float
    /// Reward model and DPO: each ranking's prompt computed once for its K answers.
    public var sharesPrompt: Bool
    /// Report training metrics every this many optimizer steps.
    public var loggingSteps: Int
    /// DPO only: beta, how far the implicit reward may take the policy from the reference.
    public var klCoefficient: Float?

    /// Supervised fine-tuning: TRL's SFTTrainer defaults (learning rate 2e-5, linear decay,
    /// no weight decay, gradient norm clipped at 1), three epochs keeping the best validation loss.
    public static let supervised = TrainingOptions(learningRate: 2e-5, epochs: 3, batchSize: 8, gradientAccumulation: 1, maximumLength: 1024,
                                                   warmupFraction: 0.03, schedule: .linear, seed: 42, trainedBlockCount: nil, validationFraction: 0.1,
                                                   maximumGradientNorm: 1, weightDecay: 0, sharesPrompt: false, loggingSteps: 10)
    /// Reward model: InstructGPT's single epoch; batch 8 rankings, maximum length 256 and a
    /// learning rate of 2e-5 with linear decay (between InstructGPT's 9e-6 and TRL's 1e-4).
    public static let reward = TrainingOptions(learningRate: 2e-5, epochs: 1, batchSize: 8, gradientAccumulation: 1, maximumLength: 256,
                                               warmupFraction: 0.03, schedule: .linear, seed: 42, trainedBlockCount: nil, validationFraction: 0.1,
                                               maximumGradientNorm: 1, weightDecay: 0, sharesPrompt: true, loggingSteps: 10)
    /// DPO: TRL's DPOTrainer defaults (beta 0.1, learning rate 1e-6, linear decay, no warmup),
    /// one epoch of batches of 8 comparisons, at most 512 tokens a prompt and answer.
    public static let directPreference = TrainingOptions(learningRate: 1e-6, epochs: 1, batchSize: 8, gradientAccumulation: 1, maximumLength: 512,
                                                         warmupFraction: 0, schedule: .linear, seed: 42, trainedBlockCount: nil, validationFraction: 0.1,
                                                         maximumGradientNorm: 1, weightDecay: 0, sharesPrompt: true, loggingSteps: 10, klCoefficient: 0.1)

    /// Refuses settings out of range, naming the command-line option.
    public func validate(layerCount: Int) throws {
        guard learningRate > 0, learningRate.isFinite, learningRate < 1 else { throw TrainingOptionError("--learning-rate", "must be between 0 and 1, got \(learningRate)") }
        guard (1...1000).contains(epochs) else { throw TrainingOptionError("--epochs", "must be from 1 to 1000, got \(epochs)") }
        guard (1...4096).contains(batchSize) else { throw TrainingOptionError("--batch-size", "must be from 1 to 4096, got \(batchSize)") }
        guard (1...4096).contains(gradientAccumulation) else { throw TrainingOptionError("--gradient-accumulation", "must be from 1 to 4096, got \(gradientAccumulation)") }
        guard (0..<1).contains(warmupFraction) else { throw TrainingOptionError("--warmup", "must be a fraction from 0 to below 1, got \(warmupFraction)") }
        guard (0..<1).contains(validationFraction) else { throw TrainingOptionError("--validation-fraction", "must be from 0 to below 1, got \(validationFraction)") }
        guard maximumGradientNorm > 0 else { throw TrainingOptionError("--max-grad-norm", "must be positive, got \(maximumGradientNorm)") }
        guard weightDecay >= 0, weightDecay < 1 else { throw TrainingOptionError("--weight-decay", "must be from 0 to below 1, got \(weightDecay)") }
        guard loggingSteps >= 1 else { throw TrainingOptionError("--logging-steps", "must be at least 1, got \(loggingSteps)") }
        if let klCoefficient { guard klCoefficient > 0, klCoefficient.isFinite else { throw TrainingOptionError("--beta", "must be positive, got \(klCoefficient)") } }
        if let trainedBlockCount, !(1...layerCount).contains(trainedBlockCount) {
            throw TrainingOptionError("--trained-blocks", "must be from 1 to the model's \(layerCount) blocks, got \(trainedBlockCount)")
        }
    }

    /// AdamW as TRL (PyTorch) runs it: betas 0.9 and 0.999, epsilon 1e-8.
    var optimizerHyperparameters: AdamW.Hyperparameters {
        var hyperparameters = AdamW.Hyperparameters()
        (hyperparameters.beta1, hyperparameters.beta2, hyperparameters.epsilon, hyperparameters.weightDecay) = (0.9, 0.999, 1e-8, weightDecay)
        return hyperparameters
    }

    func learningRateSchedule(totalSteps: Int) -> LearningRateSchedule {
        let warmup = Int((warmupFraction * Double(totalSteps)).rounded(.up))
        return LearningRateSchedule(peakRate: learningRate, minimumRate: 0, warmupSteps: warmup, totalSteps: totalSteps, decay: schedule)
    }
}
