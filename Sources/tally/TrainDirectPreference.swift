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

    func run() throws {
        try common.checkOutputFolder()
        var options = try common.options(defaults: .directPreference)
        if let beta { options.klCoefficient = beta }
        let examples = try TrainingDataReader.rankingExamples(files: common.data, skipped: { note("skipped \($0)") })
        let base = try PretrainedModel.load(common.resume ? CheckpointFolder.path(in: common.output) : common.model)
        common.fitDefaultLength(&options, contextLength: base.model.contextLength)
        try options.validate(layerCount: base.model.blockCount)
        let (training, validation, truncated) = try EncodedRankings.split(examples, model: base, options: options)
        try common.computeThreads.run {
            let trainer = try DirectPreferenceTrainer(model: base, options: options, training: training, validation: validation)
            let (reporter, started) = try common.runInterruptibly(trainer)
            let final = validation.isEmpty ? [] : try trainer.evaluate()
            let summary = RunSummary(stage: "dpo", base: common.model, data: common.data, options: options, trainingCount: trainer.training.count,
                                     validationCount: validation.count, truncatedCount: truncated, seconds: Date().timeIntervalSince(started), final: final)
            try OutputFolder.publish({ folder in
                try base.save(to: folder)
                try summary.write(to: folder, log: reporter.logLines)
            }, to: common.output)
            let accuracy = final.first { $0.name == "eval_rewards/accuracies" }.map { String(format: " (validation preference accuracy %.3f)", $0.value) } ?? ""
            note("Wrote the policy to \(common.output)\(accuracy)")
        }
    }
}
