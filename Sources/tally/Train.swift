import ArgumentParser
import Foundation
import JSON
import Training
import TransformerCore

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a policy on demonstrations (sft), a reward model on rankings (reward), or a policy against a reward model (rloo, ppo) or on comparisons (dpo).",
        subcommands: [TrainSupervised.self, TrainReward.self, TrainLeaveOneOut.self, TrainProximalPolicy.self, TrainDirectPreference.self]
    )
}

struct TrainSupervised: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "Supervised fine-tuning on demonstrations: the loss on the assistant's tokens only, the best validation loss kept.",
        discussion: """
            Data: Tally's sft-messages or sft-prompt-completion exports, or any JSONL in TRL's `messages` or \
            `prompt`/`completion` format. Writes a Hugging Face folder that Tally samples from and \
            transformers loads as LlamaForCausalLM or GPT2LMHeadModel. Ctrl+C saves a checkpoint that \
            --resume continues exactly. See Docs/training.md.
            """
    )

    @OptionGroup var common: TrainingCommandOptions

    func run() throws {
        try common.checkOutputFolder()
        var options = try common.options(defaults: .supervised)
        let examples = try TrainingDataReader.supervisedExamples(files: common.data)
        let base = try PretrainedModel.load(common.resume ? common.output + "/checkpoint" : common.model)
        common.fitDefaultLength(&options, contextLength: base.model.contextLength)
        try options.validate(layerCount: base.model.blockCount)
        let encoder = try ExampleEncoder(model: base, maximumLength: options.maximumLength)
        let (trainingExamples, validationExamples) = TrainingSplit.split(examples, options: options)
        let training = try trainingExamples.map(encoder.encode), validation = try validationExamples.map(encoder.encode)
        let truncated = (training + validation).filter(\.wasTruncated).count
        note("\(training.count) demonstrations to train on, \(validation.count) held out for validation; \(truncated) cut to \(options.maximumLength) tokens")
        try common.computeThreads.run {
            let trainer = try SupervisedTrainer(model: base, options: options, training: training, validation: validation)
            let (reporter, started) = try common.runInterruptibly(trainer)
            let summary = RunSummary(stage: "sft", base: common.model, data: common.data, options: options, trainingCount: training.count,
                                     validationCount: validation.count, truncatedCount: truncated, seconds: Date().timeIntervalSince(started),
                                     final: trainer.bestValidationLoss.map { [("best_validation_loss", $0)] } ?? [])
            try OutputFolder.publish({ folder in
                try base.save(to: folder)
                try summary.write(to: folder, log: reporter.logLines)
            }, to: common.output)
            note("Wrote the fine-tuned policy to \(common.output)" + (trainer.bestValidationLoss.map { String(format: " (best validation loss %.4f)", $0) } ?? ""))
        }
    }
}

struct TrainReward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reward",
        abstract: "Train a reward model on rankings: InstructGPT's loss over every non-tied pair of each ranking.",
        discussion: """
            Data: Tally's rankings export (whole rankings of K answers), its comparisons export or any \
            JSONL in TRL's prompt/chosen/rejected format, or HH-RLHF's chosen/rejected transcripts. \
            Writes a Hugging Face folder that transformers loads as LlamaForSequenceClassification or \
            GPT2ForSequenceClassification, with the rewards shifted to average 0 on the training \
            answers (config.json mean and std). Ctrl+C saves a checkpoint that --resume continues. \
            See Docs/training.md.
            """
    )

    @OptionGroup var common: TrainingCommandOptions

    @Flag(name: .long, help: "Repeat each ranking's prompt for every answer instead of computing it once (slower; for comparison).")
    var noSharedPrompt = false

    func run() throws {
        try common.checkOutputFolder()
        var options = try common.options(defaults: .reward)
        options.sharesPrompt = !noSharedPrompt
        let examples = try TrainingDataReader.rankingExamples(files: common.data, skipped: { note("skipped \($0)") })
        let model = try common.resume ? RewardModel(contentsOf: common.output + "/checkpoint")
                                      : RewardModel(base: try PretrainedModel.load(common.model), seed: options.seed)
        common.fitDefaultLength(&options, contextLength: model.trunk.contextLength)
        try options.validate(layerCount: model.trunk.blockCount)
        let (training, validation, truncated) = try EncodedRankings.split(examples, model: model.base, options: options)
        try common.computeThreads.run {
            let trainer = try RewardTrainer(model: model, options: options, training: training, validation: validation)
            let (reporter, started) = try common.runInterruptibly(trainer)
            try trainer.centreRewards()
            var final: [(String, Double)] = [("reward_mean_shift", Double(model.mean))]
            if !validation.isEmpty {
                let evaluation = try RewardEvaluation.evaluate(model, on: validation, sharesPrompt: options.sharesPrompt)
                final += RewardTrainer.metrics(of: evaluation)
            }
            let summary = RunSummary(stage: "reward", base: common.model, data: common.data, options: options, trainingCount: trainer.training.count,
                                     validationCount: validation.count, truncatedCount: truncated, seconds: Date().timeIntervalSince(started), final: final)
            try OutputFolder.publish({ folder in
                try model.save(to: folder)
                try summary.write(to: folder, log: reporter.logLines)
            }, to: common.output)
            let accuracy = final.first { $0.0 == "eval_accuracy" }.map { String(format: " (validation accuracy %.3f)", $0.1) } ?? ""
            note("Wrote the reward model to \(common.output)\(accuracy)")
        }
    }
}

/// The rankings of a reward-model or DPO run, encoded and split, with a note of what trains.
enum EncodedRankings {
    static func split(_ examples: [RankingExample], model: PretrainedModel, options: TrainingOptions) throws
        -> (training: [EncodedRanking], validation: [EncodedRanking], truncated: Int) {
        let encoder = try ExampleEncoder(model: model, maximumLength: options.maximumLength)
        let (trainingExamples, validationExamples) = TrainingSplit.split(examples, options: options)
        let training = try trainingExamples.map(encoder.encode), validation = try validationExamples.map(encoder.encode)
        let truncated = (training + validation).filter(\.wasTruncated).count
        let pairs = training.reduce(0) { $0 + $1.preferences.count }, ties = training.filter(\.preferences.isEmpty).count
        note("\(training.count - ties) rankings (\(pairs) pairs) to train on" + (ties > 0 ? " (\(ties) that only tie left out)" : "")
             + ", \(validation.count) held out for validation; \(truncated) cut to \(options.maximumLength) tokens")
        return (training, validation, truncated)
    }
}

/// What a finished run leaves beside the model: tally_training.json (the stage, the base, the
/// data, the options, the counts, the final metrics) and training_log.jsonl (every report).
struct RunSummary {
    let stage: String
    let base: String
    let data: [String]
    let options: any Encodable
    let trainingCount: Int
    let validationCount: Int
    let truncatedCount: Int
    let seconds: Double
    let final: [(String, Double)]

    func write(to folder: String, log: Data) throws {
        let fields: [(String, JSONValue)] = [
            ("stage", .string(stage)), ("base_model", .string(base)), ("data", .array(data.map(JSONValue.string))),
            ("options", try JSONValueEncoder().encodeToValue(options)), ("training_examples", .integer(Int64(trainingCount))),
            ("validation_examples", .integer(Int64(validationCount))), ("truncated_examples", .integer(Int64(truncatedCount))),
            ("seconds", .double(seconds)), ("final", .object(final.map { ($0.0, .double($0.1)) })),
        ]
        try Data(JSONWriter.string(.object(fields)).utf8).write(to: URL(fileURLWithPath: folder + "/tally_training.json"))
        try log.write(to: URL(fileURLWithPath: folder + "/training_log.jsonl"))
    }
}

/// A line for the person at the terminal, on standard error so standard output stays data.
func note(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
