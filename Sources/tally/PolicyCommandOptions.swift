import ArgumentParser
import Foundation
import Training
import TransformerCore

/// What `tally train rloo` and `tally train ppo` share: the SFT policy (also the frozen
/// reference), the reward model, the prompts, and the hyperparameters of an iteration. An
/// option left out takes the stage's default (`PolicyOptions.rloo` / `.ppo`, Docs/training.md).
struct PolicyCommandOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The SFT policy to start from, also the frozen KL reference: a GGUF file or a Hugging Face folder.", valueName: "path"))
    var policy: String

    @Option(name: .long, help: ArgumentHelp("The reward model folder (`tally train reward`, or a *ForSequenceClassification saved by transformers). One with its own tokenizer reads the answers re-encoded in it.", valueName: "path"))
    var reward: String

    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("JSONL files of prompts: any record with `prompt` (Tally's imports and exports, TRL's formats) or `messages`.", valueName: "file"))
    var prompts: [String]

    @Option(name: .long, help: ArgumentHelp("The folder to write the trained policy to; must not exist yet (or be empty), unless --resume.", valueName: "path"))
    var output: String

    @Option(name: .long, help: "Iterations: each samples, scores and updates (default: 100).") var iterations: Int?
    @Option(name: .long, help: "Prompts per iteration (default: 8).") var promptsPerIteration: Int?
    @Option(name: .long, help: "Answers sampled per prompt, k (default: rloo 2, ppo 1).") var answersPerPrompt: Int?
    @Option(name: .long, help: "The longest answer, in tokens (default: 64).") var maxNewTokens: Int?
    @Option(name: .long, help: "Prompts longer than this keep their end (default: 256).") var maxPromptLength: Int?
    @Option(name: .long, help: "Sampling and scoring temperature (default: 1).") var temperature: Float?
    @Option(name: .long, help: "beta, the weight of the KL penalty to the reference (default: rloo 0.05, ppo 0.02).") var klCoefficient: Float?
    @Option(name: .long, help: "Steer beta toward this KL per answer, in nats (lm-human-preferences' adaptive controller; default: off).") var klTarget: Float?
    @Option(name: .long, help: "The adaptive controller's horizon, in episodes (default: 10000).") var klHorizon: Int?
    @Option(name: .long, help: "epsilon of the clipped ratio (default: 0.2).") var clipRange: Float?
    @Option(name: .long, help: "Update passes over each iteration's episodes (default: rloo 1, ppo 4).") var updateEpochs: Int?
    @Option(name: .long, help: "Minibatches per update pass; must divide the episodes (default: 1).") var minibatches: Int?
    @Option(name: .long, help: "Subtract this from the score of an answer cut at --max-new-tokens (default: none).") var missingEndPenalty: Float?
    @Option(name: .long, help: "The peak learning rate, decayed linearly (default: rloo 1e-6, ppo 3e-6).") var learningRate: Float?
    @Option(name: .customLong("max-grad-norm"), help: "Clip the gradient's norm to this (default: 1).") var maximumGradientNorm: Float?
    @Option(name: .long, help: "Seeds the prompt order, the sampling and the held-out split (default: 42).") var seed: UInt64?
    @Option(name: .long, help: "Train only the policy's top N blocks (default: all).") var trainedBlocks: Int?
    @Option(name: .long, help: "The share of prompts held out for evaluation when no record names its split.") var validationFraction: Double = 0.1
    @Option(name: .long, help: "Evaluate on the held-out prompts every N iterations (default: only at the start and the end).") var evalSteps: Int?
    @Option(name: .long, help: "Report every N iterations (default: 1).") var loggingSteps: Int?
    @Option(name: .long, help: "Compute threads (default: every core; env TALLY_COMPUTE_THREADS).") var threads: Int?
    @Flag(name: .long, inversion: .prefixedNo, help: "Scale the advantages to mean 0 and variance 1 (default: rloo off, ppo on).") var whitenAdvantages: Bool?
    @Flag(name: .long, help: "Continue the interrupted run saved in OUTPUT/checkpoint, with the same options.") var resume = false
    @Flag(name: .long, help: "Print one JSON object per report instead of the progress bar.") var json = false

    func options(defaults: PolicyOptions) -> PolicyOptions {
        var options = defaults
        if let iterations { options.iterations = iterations }
        if let promptsPerIteration { options.promptsPerIteration = promptsPerIteration }
        if let answersPerPrompt { options.answersPerPrompt = answersPerPrompt }
        if let maxNewTokens { options.maximumNewTokens = maxNewTokens }
        if let maxPromptLength { options.maximumPromptLength = maxPromptLength }
        if let temperature { options.temperature = temperature }
        if let klCoefficient { options.klCoefficient = klCoefficient }
        if let klTarget { options.klTarget = klTarget }
        if let klHorizon { options.klHorizon = klHorizon }
        if let clipRange { options.clipRange = clipRange }
        if let updateEpochs { options.updateEpochs = updateEpochs }
        if let minibatches { options.minibatches = minibatches }
        if let missingEndPenalty { options.missingEndPenalty = missingEndPenalty }
        if let learningRate { options.learningRate = learningRate }
        if let maximumGradientNorm { options.maximumGradientNorm = maximumGradientNorm }
        if let seed { options.seed = seed }
        if let trainedBlocks { options.trainedBlockCount = trainedBlocks }
        if let evalSteps { options.evaluationSteps = evalSteps }
        if let loggingSteps { options.loggingSteps = loggingSteps }
        if let whitenAdvantages { options.whitensAdvantages = whitenAdvantages }
        return options
    }

    /// Trains with `options`: loads the policy (from the checkpoint when resuming), its
    /// reference and the reward model, splits the prompts, runs, and writes the policy.
    func run(stage: String, options: PolicyOptions, demonstrationFiles: [String] = []) throws {
        try checkTrainingOutputFolder(output, resume: resume)
        var repeated = 0
        let examples = try TrainingDataReader.promptExamples(files: prompts, repeated: &repeated)
        if repeated > 0 { note("\(repeated) repeated prompts left out") }
        let demonstrations = demonstrationFiles.isEmpty ? [] : try TrainingDataReader.supervisedExamples(files: demonstrationFiles)
        let run = try StageRun.policy(stage: stage, policyPath: policy, rewardPath: reward, prompts: examples, validationFraction: validationFraction,
                                      options: options, fitsPromptLength: maxPromptLength == nil, demonstrations: demonstrations,
                                      resumingIn: resume ? output : nil)
        _ = try trainAndPublish(run, base: policy, data: prompts, output: output, resume: resume, json: json, threads: threads)
        let evaluation = (run.trainer as! PolicyTrainer).lastEvaluation
        note("Wrote the policy to \(output)" + (evaluation.map { String(format: " (held-out reward %.3f, KL %.2f nats per answer)", $0.meanReward, $0.meanKLPerAnswer) } ?? ""))
    }
}

struct TrainLeaveOneOut: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rloo",
        abstract: "RLOO (or GRPO) against a reward model: k answers per prompt, each one's baseline the others' mean reward, the KL folded into the reward.",
        discussion: """
            Samples --answers-per-prompt answers to each prompt with the policy, scores them with the reward \
            model, subtracts beta times each answer's KL to the reference, and takes a clipped policy-gradient \
            step on the leave-one-out advantage (--advantage grpo: the group-normalized one). Reports \
            TRL's RLOOTrainer metrics. Writes a Hugging Face folder. Ctrl+C saves a checkpoint that --resume \
            continues exactly. See Docs/training.md.
            """
    )

    @OptionGroup var common: PolicyCommandOptions
    @Option(name: .long, help: "rloo (leave one out) or grpo (group-normalized).") var advantage = "rloo"

    func run() throws {
        let defaults: PolicyOptions
        switch advantage {
        case "rloo": defaults = .rloo
        case "grpo": defaults = .grpo
        default: throw ValidationError("--advantage: must be rloo or grpo, not '\(advantage)'")
        }
        try common.run(stage: advantage, options: common.options(defaults: defaults))
    }
}

struct TrainProximalPolicy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ppo",
        abstract: "PPO against a reward model (InstructGPT): a per-token KL penalty, GAE from a value function, clipped updates; PPO-ptx with --ptx-coefficient.",
        discussion: """
            The value function is a head on the policy's own trunk by default (one pass serves both); \
            --value-model separate gives it a trunk of its own started from the reward model, as InstructGPT \
            (twice the work). Reports trl.experimental.ppo's metrics. Writes a Hugging Face folder. Ctrl+C \
            saves a checkpoint that --resume continues exactly. See Docs/training.md.
            """
    )

    @OptionGroup var common: PolicyCommandOptions
    @Option(name: .long, help: "shared (a head on the policy's trunk) or separate (a trunk started from the reward model).") var valueModel = "shared"
    @Option(name: .long, help: "The weight of the value loss (default: 0.1).") var valueCoefficient: Float?
    @Option(name: .long, help: "How far a value may move before its loss is clipped (default: 0.2).") var valueClipRange: Float?
    @Option(name: .long, help: "GAE's discount (default: 1).") var gamma: Float?
    @Option(name: .long, help: "GAE's lambda (default: 0.95).") var lambda: Float?
    @Option(name: .long, help: "PPO-ptx: the weight of the language-model loss on --ptx-data (InstructGPT: 27.8; default: 0, off).") var ptxCoefficient: Float?
    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("PPO-ptx's demonstrations (Tally's sft exports, TRL's messages or prompt/completion).", valueName: "file"))
    var ptxData: [String] = []

    func run() throws {
        var options = common.options(defaults: .ppo)
        guard let placement = PolicyOptions.ValueModel(rawValue: valueModel) else { throw ValidationError("--value-model: must be shared or separate, not '\(valueModel)'") }
        options.valueModel = placement
        if let valueCoefficient { options.valueCoefficient = valueCoefficient }
        if let valueClipRange { options.valueClipRange = valueClipRange }
        if let gamma { options.discount = gamma }
        if let lambda { options.traceDecay = lambda }
        if let ptxCoefficient { options.pretrainingCoefficient = ptxCoefficient }
        if !ptxData.isEmpty, options.pretrainingCoefficient == 0 { throw ValidationError("--ptx-data: given without --ptx-coefficient, so it would be ignored; set the coefficient (InstructGPT: 27.8)") }
        try common.run(stage: options.pretrainingCoefficient > 0 ? "ppo-ptx" : "ppo", options: options, demonstrationFiles: ptxData)
    }
}
