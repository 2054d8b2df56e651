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
//   TrainerBenchmark tokenize-dpo MODEL PAIRS OUT L each pair as DPO trains on it (cut to L tokens):
//                                                   prompt_ids, chosen_ids, rejected_ids (TRL's
//                                                   pre-tokenized DPO format)
//   TrainerBenchmark decode MODEL BATCH TOKENS      sampling speed: BATCH sequences decoded together
//                                                   for TOKENS new tokens each, tokens per second
//   TrainerBenchmark best-of MODEL RM PROMPTS N T S best-of-N of the policy on PROMPTS (the held-out
//                                                   ones of the file), answers of at most T tokens at
//                                                   temperature 1, seed S: the mean best and mean
//                                                   single-answer reward
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
    case "tokenize-dpo":
        let model = try PretrainedModel.load(arguments[2])
        let examples = try TrainingDataReader.rankingExamples(files: [arguments[3]], skipped: { fail("unexpected skip: \($0)") })
        let encoder = try ExampleEncoder(model: model, maximumLength: Int(arguments[5])!)
        func ids(_ tokens: [Int32]) -> JSONValue { .array(tokens.map { .integer(Int64($0)) }) }
        var lines = ""
        for example in examples {
            let ranking = try encoder.encode(example)
            lines += JSONWriter.string(.object([("prompt_ids", ids(ranking.prompt)), ("chosen_ids", ids(ranking.answers[0])), ("rejected_ids", ids(ranking.answers[1]))])) + "\n"
        }
        try Data(lines.utf8).write(to: URL(fileURLWithPath: arguments[4]))
    case "decode":
        let model = try PretrainedModel.load(arguments[2])
        let (batch, tokens) = (Int(arguments[3])!, Int(arguments[4])!)
        let prompt = try model.promptTokens([ChatTemplate.Message(role: "user", content: "Write a long story about a lighthouse keeper.")])
        var options = SamplingOptions()
        (options.temperature, options.maximumNewTokens, options.seed) = (1, tokens, 1)
        _ = try model.model.sample(prompts: [prompt], options: options)  // warm the buffers
        let start = Date()
        let samples = try model.model.sample(prompts: Array(repeating: prompt, count: batch), options: options)
        let seconds = Date().timeIntervalSince(start)
        let generated = samples.reduce(0) { $0 + $1.tokens.count }
        print(JSONWriter.string(.object([("batch", .integer(Int64(batch))), ("new_tokens", .integer(Int64(generated))), ("seconds", .double(seconds)),
                                         ("tokens_per_second", .double(Double(generated) / seconds)), ("prompt_tokens", .integer(Int64(prompt.count)))])))
    case "best-of":
        let policy = try PretrainedModel.load(arguments[2])
        let rewardModel = try RewardModel(contentsOf: arguments[3])
        var repeated = 0
        let prompts = try TrainingDataReader.promptExamples(files: [arguments[4]], repeated: &repeated).filter(\.isHeldOut).map(\.prompt)
        let (n, tokens, seed) = (Int(arguments[5])!, Int(arguments[6])!, UInt64(arguments[7])!)
        var options = SamplingOptions()
        (options.temperature, options.maximumNewTokens, options.seed) = (1, tokens, seed)
        let choices = try BestOfN.choose(policy: policy, reward: try RewardModelScorer(rewardModel: rewardModel, policy: policy), prompts: prompts, n: n, options: options)
        let best = choices.map { Double($0.best.reward) }, all = choices.flatMap { $0.answers.map { Double($0.reward) } }
        let examples: [JSONValue] = zip(prompts, choices).prefix(3).map { prompt, choice in
            .object([("prompt", .string(prompt.last!.content)), ("best", .string(choice.best.text)), ("reward", .double(Double(choice.best.reward)))])
        }
        print(JSONWriter.string(.object([("n", .integer(Int64(n))), ("prompts", .integer(Int64(prompts.count))),
                                         ("mean_best_reward", .double(best.reduce(0, +) / Double(best.count))),
                                         ("mean_reward", .double(all.reduce(0, +) / Double(all.count))),
                                         ("kl_bound_nats", .double(log(Double(n)) - Double(n - 1) / Double(n))), ("examples", .array(examples))])))
    default:
        fail("unknown command \(arguments[1])")
    }
} catch {
    fail("\(error)")
}
