import ArgumentParser
import Foundation
import JSON
import Training
import TransformerCore

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a trained model.",
        subcommands: [EvaluateReward.self]
    )
}

struct EvaluateReward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reward",
        abstract: "A reward model's accuracy on pairs, beside the longer-answer baseline and chance on the same pairs.",
        discussion: """
            Reads the same files as `tally train reward`. Prints accuracy overall, by labeler group and \
            by answer length (tokens of the longer answer), the "longer answer wins" baseline (by \
            characters) and chance; pairs the labelers tied are counted apart. --json prints one object.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The reward model: a folder written by `tally train reward`, or any Llama or GPT-2 sequence classifier.", valueName: "path"))
    var model: String

    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("JSONL files of rankings or pairs.", valueName: "file"))
    var data: [String]

    @Option(name: .long, help: "The longest prompt and answer, in tokens.") var maxLength = 256
    @Option(name: .long, help: "Compute threads (default: every core).") var threads: Int?
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func run() throws {
        let examples = try TrainingDataReader.rankingExamples(files: data, skipped: { note("skipped \($0)") })
        let model = try RewardModel(contentsOf: self.model)
        let encoder = try ExampleEncoder(model: model.base, maximumLength: maxLength)
        let rankings = try examples.map(encoder.encode)
        let evaluation = try ComputeThreads(count: threads ?? ComputeThreads.shared.count).run {
            try RewardEvaluation.evaluate(model, on: rankings)
        }
        let truncated = rankings.filter(\.wasTruncated).count
        let groups = evaluation.byGroup.sorted { $0.key < $1.key }
        let lengths = RewardEvaluation.lengthBuckets.compactMap { bucket in evaluation.byLength[bucket].map { (bucket, $0) } }
        if json {
            func tally(_ tally: RewardEvaluation.Tally) -> JSONValue {
                .object([("pairs", .integer(Int64(tally.pairs))), ("correct", .integer(Int64(tally.correct))),
                         ("equal_scores", .integer(Int64(tally.equalScores))), ("accuracy", .double(tally.accuracy))])
            }
            let object: JSONValue = .object([
                ("model", .string(self.model)), ("rankings", .integer(Int64(rankings.count))), ("truncated", .integer(Int64(truncated))),
                ("accuracy", .double(evaluation.overall.accuracy)), ("pairs", .integer(Int64(evaluation.overall.pairs))),
                ("equal_scores", .integer(Int64(evaluation.overall.equalScores))),
                ("length_baseline_accuracy", .double(evaluation.lengthBaselineAccuracy)), ("chance", .double(0.5)),
                ("loss", .double(evaluation.meanLoss)), ("mean_reward", .double(evaluation.meanReward)), ("margin", .double(evaluation.meanMargin)),
                ("tied_pairs", .integer(Int64(evaluation.tiedPairs))), ("tied_pairs_mean_gap", .double(evaluation.tiedPairsMeanGap)),
                ("by_group", .object(groups.map { ($0.key, tally($0.value)) })),
                ("by_length", .object(lengths.map { ($0.0, tally($0.1)) })),
            ])
            print(JSONWriter.string(object))
            return
        }
        func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }
        print("\(evaluation.overall.pairs) pairs from \(rankings.count) rankings (\(truncated) cut to \(maxLength) tokens)")
        print("accuracy              \(percent(evaluation.overall.accuracy))  (\(evaluation.overall.correct) right, \(evaluation.overall.equalScores) scored equal)")
        print("longer answer wins    \(percent(evaluation.lengthBaselineAccuracy))")
        print("chance                50.0%")
        print(String(format: "loss %.4f, mean reward %.3f, mean margin %.3f", evaluation.meanLoss, evaluation.meanReward, evaluation.meanMargin))
        if evaluation.tiedPairs > 0 { print(String(format: "tied pairs (counted apart): %d, mean reward gap %.3f", evaluation.tiedPairs, evaluation.tiedPairsMeanGap)) }
        for (group, tally) in groups where groups.count > 1 || group != "unknown" { print("labeler group \(group): \(percent(tally.accuracy)) of \(tally.pairs)") }
        for (bucket, tally) in lengths { print("longer answer \(bucket) tokens: \(percent(tally.accuracy)) of \(tally.pairs)") }
    }
}
