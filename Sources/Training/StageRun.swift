import Foundation
import JSON
import TransformerCore

/// One training stage prepared from its examples: the trainer, what the data came to (the
/// lines a person reads before it starts), and how to finish and write the trained model.
/// The command line and the background worker drive the same runs: they differ only in where
/// progress goes and in how a run is stopped and resumed.
public final class StageRun {
    /// The stage's name as `tally_training.json` records it: sft, reward, rloo, grpo, ppo, ppo-ptx, dpo.
    public let stage: String
    public let trainer: any Trainer
    public let options: any Encodable & Sendable
    public let trainingCount: Int
    public let validationCount: Int
    public let truncatedCount: Int
    /// What the data came to, in sentences ("120 rankings (410 pairs) to train on, ...").
    public let notes: [String]
    private let finishing: () throws -> [(name: String, value: Double)]
    private let writing: (String) throws -> Void

    init(stage: String, trainer: any Trainer, options: any Encodable & Sendable, trainingCount: Int, validationCount: Int, truncatedCount: Int,
         notes: [String], finish: @escaping () throws -> [(name: String, value: Double)], write: @escaping (String) throws -> Void) {
        (self.stage, self.trainer, self.options) = (stage, trainer, options)
        (self.trainingCount, self.validationCount, self.truncatedCount) = (trainingCount, validationCount, truncatedCount)
        (self.notes, finishing, writing) = (notes, finish, write)
    }

    /// After training has finished: what a stage does last (the reward model's centring) and its
    /// final metrics (validation accuracy, the last held-out evaluation).
    public func finish() throws -> [(name: String, value: Double)] { try finishing() }

    /// Writes the trained model (a Hugging Face folder) into `folder`.
    public func writeModel(to folder: String) throws { try writing(folder) }

    /// Supervised fine-tuning of the model at `modelPath` (or the checkpoint in `resumingIn`).
    /// `fitsLength`: the default maximum length is cut to a shorter context (false when the
    /// person chose it, so that a length that does not fit is refused).
    public static func supervised(modelPath: String, examples: [SupervisedExample], options: TrainingOptions, fitsLength: Bool = true,
                                  resumingIn output: String? = nil) throws -> StageRun {
        var options = options
        let base = try PretrainedModel.load(output.map(CheckpointFolder.path(in:)) ?? modelPath)
        if fitsLength { options.maximumLength = min(options.maximumLength, base.model.contextLength) }
        try options.validate(layerCount: base.model.blockCount)
        let encoder = try ExampleEncoder(model: base, maximumLength: options.maximumLength)
        let (trainingExamples, validationExamples) = TrainingSplit.split(examples, options: options)
        let training = try trainingExamples.map(encoder.encode), validation = try validationExamples.map(encoder.encode)
        let truncated = (training + validation).filter(\.wasTruncated).count
        let trainer = try SupervisedTrainer(model: base, options: options, training: training, validation: validation)
        return StageRun(stage: "sft", trainer: trainer, options: options, trainingCount: training.count, validationCount: validation.count,
                        truncatedCount: truncated,
                        notes: ["\(training.count) demonstrations to train on, \(validation.count) held out for validation; \(truncated) cut to \(options.maximumLength) tokens"],
                        finish: { trainer.bestValidationLoss.map { [("best_validation_loss", $0)] } ?? [] },
                        write: { try base.save(to: $0) })
    }

    /// A reward model on rankings, its head new on the model at `modelPath` (or the checkpoint
    /// in `resumingIn`); once trained its rewards are centred and it is evaluated on the
    /// validation rankings.
    public static func reward(modelPath: String, examples: [RankingExample], options: TrainingOptions, fitsLength: Bool = true,
                              resumingIn output: String? = nil) throws -> StageRun {
        var options = options
        let model = try output.map { try RewardModel(contentsOf: CheckpointFolder.path(in: $0)) }
            ?? RewardModel(base: try PretrainedModel.load(modelPath), seed: options.seed)
        if fitsLength { options.maximumLength = min(options.maximumLength, model.trunk.contextLength) }
        try options.validate(layerCount: model.trunk.blockCount)
        let rankings = try EncodedRankings(examples, model: model.base, options: options)
        let trainer = try RewardTrainer(model: model, options: options, training: rankings.training, validation: rankings.validation)
        return StageRun(stage: "reward", trainer: trainer, options: options, trainingCount: trainer.training.count, validationCount: rankings.validation.count,
                        truncatedCount: rankings.truncated, notes: [rankings.note],
                        finish: {
                            try trainer.centreRewards()
                            var final: [(name: String, value: Double)] = [("reward_mean_shift", Double(model.mean))]
                            if !rankings.validation.isEmpty {
                                let evaluation = try RewardEvaluation.evaluate(model, on: rankings.validation, sharesPrompt: options.sharesPrompt)
                                final += RewardTrainer.metrics(of: evaluation)
                            }
                            return final
                        },
                        write: { try model.save(to: $0) })
    }

    /// DPO on the comparisons of rankings, the model at `modelPath` its own reference.
    public static func directPreference(modelPath: String, examples: [RankingExample], options: TrainingOptions, fitsLength: Bool = true,
                                        resumingIn output: String? = nil) throws -> StageRun {
        var options = options
        let base = try PretrainedModel.load(output.map(CheckpointFolder.path(in:)) ?? modelPath)
        if fitsLength { options.maximumLength = min(options.maximumLength, base.model.contextLength) }
        try options.validate(layerCount: base.model.blockCount)
        let rankings = try EncodedRankings(examples, model: base, options: options)
        let trainer = try DirectPreferenceTrainer(model: base, options: options, training: rankings.training, validation: rankings.validation)
        return StageRun(stage: "dpo", trainer: trainer, options: options, trainingCount: trainer.training.count, validationCount: rankings.validation.count,
                        truncatedCount: rankings.truncated, notes: [rankings.note],
                        finish: { rankings.validation.isEmpty ? [] : try trainer.evaluate() },
                        write: { try base.save(to: $0) })
    }

    /// RLOO, GRPO or PPO of the policy at `policyPath` (also the frozen reference) against the
    /// reward model at `rewardPath`, on `prompts` with a share held out for evaluation;
    /// `demonstrations` are PPO-ptx's language-model batches.
    /// `fitsPromptLength`: the default prompt length is cut to what the context leaves.
    public static func policy(stage: String, policyPath: String, rewardPath: String, prompts: [PromptExample], validationFraction: Double,
                              options: PolicyOptions, fitsPromptLength: Bool = true, demonstrations: [SupervisedExample] = [],
                              resumingIn output: String? = nil) throws -> StageRun {
        var options = options
        guard (0..<1).contains(validationFraction) else { throw TrainingOptionError("--validation-fraction", "must be from 0 to below 1, got \(validationFraction)") }
        let (training, heldOut) = TrainingSplit.split(prompts, prompt: \.prompt, isHeldOut: \.isHeldOut, fraction: validationFraction, seed: options.seed)
        var notes = ["\(training.count) prompts to train on, \(heldOut.count) held out for evaluation"]
        let reference = try PretrainedModel.load(policyPath)
        if fitsPromptLength { options.maximumPromptLength = max(1, min(options.maximumPromptLength, reference.model.contextLength - options.maximumNewTokens)) }
        let model = try output.map { try PretrainedModel.load(CheckpointFolder.path(in: $0)) } ?? reference.copy()
        let rewardModel: RewardModel
        do { rewardModel = try RewardModel(contentsOf: rewardPath) } catch { throw TrainingOptionError("--reward", "\(error)") }
        let scorer = try RewardModelScorer(rewardModel: rewardModel, policy: reference)
        if !scorer.sharesTokens { notes.append("The reward model has its own tokenizer or chat template: each answer is re-encoded in it before scoring.") }
        var encodedDemonstrations: [EncodedDemonstration] = []
        if !demonstrations.isEmpty {
            let encoder = try ExampleEncoder(model: reference, maximumLength: min(1024, reference.model.contextLength))
            encodedDemonstrations = try demonstrations.map(encoder.encode)
        }
        let trainer = try PolicyTrainer(policy: model, reference: reference, reward: scorer, options: options, prompts: training,
                                        heldOutPrompts: heldOut, demonstrations: encodedDemonstrations, rewardModel: rewardModel)
        return StageRun(stage: stage, trainer: trainer, options: options, trainingCount: training.count, validationCount: heldOut.count,
                        truncatedCount: 0, notes: notes,
                        finish: { trainer.lastEvaluation?.metrics ?? [] },
                        write: { try model.save(to: $0) })
    }
}

/// The rankings of a reward-model or DPO run, encoded and split, with a sentence on what trains.
struct EncodedRankings {
    let training: [EncodedRanking]
    let validation: [EncodedRanking]
    let truncated: Int
    let note: String

    init(_ examples: [RankingExample], model: PretrainedModel, options: TrainingOptions) throws {
        let encoder = try ExampleEncoder(model: model, maximumLength: options.maximumLength)
        let (trainingExamples, validationExamples) = TrainingSplit.split(examples, options: options)
        training = try trainingExamples.map(encoder.encode)
        validation = try validationExamples.map(encoder.encode)
        truncated = (training + validation).filter(\.wasTruncated).count
        let pairs = training.reduce(0) { $0 + $1.preferences.count }, ties = training.filter(\.preferences.isEmpty).count
        note = "\(training.count - ties) rankings (\(pairs) pairs) to train on" + (ties > 0 ? " (\(ties) that only tie left out)" : "")
            + ", \(validation.count) held out for validation; \(truncated) cut to \(options.maximumLength) tokens"
    }
}

/// What a finished run leaves beside the model: tally_training.json (the stage, the base, the
/// data, the options, the counts, the final metrics) and training_log.jsonl (every report).
public struct RunSummary {
    public let stage: String
    public let base: String
    public let data: [String]
    public let options: any Encodable
    public let trainingCount: Int
    public let validationCount: Int
    public let truncatedCount: Int
    public let seconds: Double
    public let final: [(name: String, value: Double)]

    public init(run: StageRun, base: String, data: [String], seconds: Double, final: [(name: String, value: Double)]) {
        (stage, self.base, self.data, options) = (run.stage, base, data, run.options)
        (trainingCount, validationCount, truncatedCount) = (run.trainingCount, run.validationCount, run.truncatedCount)
        (self.seconds, self.final) = (seconds, final)
    }

    public func write(to folder: String, log: Data) throws {
        let fields: [(String, JSONValue)] = [
            ("stage", .string(stage)), ("base_model", .string(base)), ("data", .array(data.map(JSONValue.string))),
            ("options", try JSONValueEncoder().encodeToValue(options)), ("training_examples", .integer(Int64(trainingCount))),
            ("validation_examples", .integer(Int64(validationCount))), ("truncated_examples", .integer(Int64(truncatedCount))),
            ("seconds", .double(seconds)), ("final", .object(final.map { ($0.name, .double($0.value)) })),
        ]
        try Data(JSONWriter.string(.object(fields)).utf8).write(to: URL(fileURLWithPath: folder + "/tally_training.json"))
        try log.write(to: URL(fileURLWithPath: folder + "/training_log.jsonl"))
    }
}

/// Where a finished model goes: written beside the output folder first and moved into place
/// only once complete, so an output folder holds a whole model or none.
public enum OutputFolder {
    public static func publish(_ write: (String) throws -> Void, to output: String) throws {
        let staging = output + ".partial"
        let manager = FileManager.default
        try? manager.removeItem(atPath: staging)
        try write(staging)
        // An interrupted run's checkpoint is done with once the model is whole.
        if manager.fileExists(atPath: output) { try manager.removeItem(atPath: output) }
        try manager.moveItem(atPath: staging, toPath: output)
    }
}
