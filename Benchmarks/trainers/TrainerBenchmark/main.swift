// The Swift half of `make bench-reward` and `make bench-sft` (Benchmarks/trainers/bench_*.py
// drive it), so that the peers are given exactly Tally's tokens:
//
//   TrainerBenchmark convert MODEL FOLDER          the base model as a Hugging Face folder, for TRL
//   TrainerBenchmark tokenize MODEL PAIRS OUT L     each pair as the token ids Tally trains on
//                                                   (prompt + answer + end of turn), whole, with
//                                                   whether both fit in L tokens, and as Tally cuts
//                                                   them to L tokens
//   TrainerBenchmark tokenize-sft MODEL DEMOS OUT L each demonstration as Tally trains on it (cut
//                                                   to L tokens): input_ids, a completion_mask
//                                                   (1 on the answer's tokens), whether held out
//   TrainerBenchmark scores RM PAIRS OUT N          Tally's rewards of the first N pairs, to check
//                                                   transformers' AutoModelForSequenceClassification
//
// Benchmark tooling only.
import Foundation
import JSON
import Training
import TransformerCore

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(1)
}

let arguments = CommandLine.arguments
guard arguments.count >= 4 else { fail("usage: TrainerBenchmark convert MODEL FOLDER | tokenize MODEL PAIRS OUT LENGTH | tokenize-sft MODEL DEMONSTRATIONS OUT LENGTH | scores RM PAIRS OUT COUNT") }
do {
    switch arguments[1] {
    case "convert":
        try PretrainedModel.load(arguments[2]).save(to: arguments[3])
    case "tokenize":
        let model = try PretrainedModel.load(arguments[2])
        let examples = try TrainingDataReader.rankingExamples(files: [arguments[3]], skipped: { fail("unexpected skip: \($0)") })
        let length = Int(arguments[5])!
        let whole = try ExampleEncoder(model: model, maximumLength: model.model.contextLength)
        let cut = try ExampleEncoder(model: model, maximumLength: length)
        func ids(_ tokens: [Int32]) -> JSONValue { .array(tokens.map { .integer(Int64($0)) }) }
        var lines = ""
        for example in examples {
            let ranking = try whole.encode(example), cutRanking = try cut.encode(example)
            let chosen = ranking.prompt + ranking.answers[0], rejected = ranking.prompt + ranking.answers[1]
            let record: JSONValue = .object([
                ("chosen_ids", ids(chosen)), ("rejected_ids", ids(rejected)), ("fits", .bool(chosen.count <= length && rejected.count <= length)),
                // As Tally cuts them to the length: what TRL is given so that it drops none.
                ("chosen_ids_cut", ids(cutRanking.prompt + cutRanking.answers[0])), ("rejected_ids_cut", ids(cutRanking.prompt + cutRanking.answers[1])),
            ])
            lines += JSONWriter.string(record) + "\n"
        }
        try Data(lines.utf8).write(to: URL(fileURLWithPath: arguments[4]))
    case "tokenize-sft":
        let model = try PretrainedModel.load(arguments[2])
        let examples = try TrainingDataReader.supervisedExamples(files: [arguments[3]])
        let encoder = try ExampleEncoder(model: model, maximumLength: Int(arguments[5])!)
        var lines = ""
        for example in examples {
            let demonstration = try encoder.encode(example)
            let mask = demonstration.tokens.indices.map { JSONValue.integer($0 >= demonstration.responseStart ? 1 : 0) }
            let record: JSONValue = .object([("input_ids", .array(demonstration.tokens.map { .integer(Int64($0)) })), ("completion_mask", .array(mask)),
                                             ("validation", .bool(example.isHeldOut))])
            lines += JSONWriter.string(record) + "\n"
        }
        try Data(lines.utf8).write(to: URL(fileURLWithPath: arguments[4]))
    case "scores":
        let model = try RewardModel(contentsOf: arguments[2])
        let examples = try TrainingDataReader.rankingExamples(files: [arguments[3]], skipped: { fail("unexpected skip: \($0)") })
        let count = Int(arguments[5])!
        let encoder = try ExampleEncoder(model: model.base, maximumLength: 256)
        let rankings = try examples.prefix(count).map(encoder.encode)
        let rewards = try model.rewards(of: rankings)
        let records: [JSONValue] = zip(rankings, rewards).map { ranking, rewards in
            .object([("sequences", .array(ranking.answers.map { .array((ranking.prompt + $0).map { .integer(Int64($0)) }) })),
                     ("rewards", .array(rewards.map { .double(Double($0)) }))])
        }
        let object: JSONValue = .object([("pad_token_id", .integer(Int64(model.padToken))), ("mean", .double(Double(model.mean))),
                                         ("std", .double(Double(model.standardDeviation))), ("pairs", .array(records))])
        try Data(JSONWriter.string(object).utf8).write(to: URL(fileURLWithPath: arguments[4]))
    default:
        fail("unknown command \(arguments[1])")
    }
} catch {
    fail("\(error)")
}
