import ArgumentParser
import Foundation
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
        let options = try common.options(defaults: .supervised)
        let examples = try TrainingDataReader.supervisedExamples(files: common.data)
        let run = try StageRun.supervised(modelPath: common.model, examples: examples, options: options, fitsLength: common.maxLength == nil,
                                          resumingIn: common.resume ? common.output : nil)
        try common.train(run)
        let trainer = run.trainer as! SupervisedTrainer
        note("Wrote the fine-tuned policy to \(common.output)" + (trainer.bestValidationLoss.map { String(format: " (best validation loss %.4f)", $0) } ?? ""))
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
        let run = try StageRun.reward(modelPath: common.model, examples: examples, options: options, fitsLength: common.maxLength == nil,
                                      resumingIn: common.resume ? common.output : nil)
        let final = try common.train(run)
        let accuracy = final.first { $0.name == "eval_accuracy" }.map { String(format: " (validation accuracy %.3f)", $0.value) } ?? ""
        note("Wrote the reward model to \(common.output)\(accuracy)")
    }
}

/// A line for the person at the terminal, on standard error so standard output stays data.
func note(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
