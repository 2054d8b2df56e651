import ArgumentParser
import Foundation
import Training
import TransformerCore

struct TrainDirectPreference: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dpo",
        abstract: "DPO on comparisons: the policy learns the labelers' preferences directly, held near itself (the reference) by beta.",
        discussion: """
            Data: the reward model's (Tally's rankings or comparisons exports, TRL's prompt/chosen/rejected, \
            HH-RLHF); a ranking of K gives every non-tied pair. The reference is --policy before training, \
            its log-probabilities computed once. Reports TRL's DPOTrainer metrics (rewards/accuracies, \
            rewards/margins, ...). Writes a Hugging Face folder. Ctrl+C saves a checkpoint that --resume \
            continues exactly. See Docs/training.md.
            """
    )

    @OptionGroup var common: TrainingCommandOptions
    @Option(name: .long, help: "DPO's beta (default: 0.1).") var beta: Float?
    @Flag(name: .long, help: "Repeat each comparison's prompt for every answer instead of computing it once (slower; for comparison).")
    var noSharedPrompt = false

    func run() throws {
        try common.checkOutputFolder()
        var options = try common.options(defaults: .directPreference)
        if let beta { options.klCoefficient = beta }
        options.sharesPrompt = !noSharedPrompt
        let examples = try TrainingDataReader.rankingExamples(files: common.data, skipped: { note("skipped \($0)") })
        let run = try StageRun.directPreference(modelPath: common.model, examples: examples, options: options, fitsLength: common.maxLength == nil,
                                                resumingIn: common.resume ? common.output : nil)
        let final = try common.train(run)
        let accuracy = final.first { $0.name == "eval_rewards/accuracies" }.map { String(format: " (validation preference accuracy %.3f)", $0.value) } ?? ""
        note("Wrote the policy to \(common.output)\(accuracy)")
    }
}
