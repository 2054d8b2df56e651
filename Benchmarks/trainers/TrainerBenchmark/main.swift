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
//   TrainerBenchmark features MODEL PAIRS OUT L     the trunk's final hidden state at each answer's
//                                                   last token (cut to L tokens), chosen then
//                                                   rejected, as float32 in OUT, its shape and the
//                                                   answers' lengths in OUT.json (make bench-active)
//   TrainerBenchmark active POOL EVAL STRATEGY SEED INITIAL ROUND ROUNDS PENALTY SHARE
//                                                   active selection simulated on cached features:
//                                                   INITIAL random labels, then ROUNDS rounds of
//                                                   ROUND chosen by STRATEGY (random | uncertainty,
//                                                   SHARE of each round still drawn at random), a
//                                                   frozen-trunk head refitted each round;
//                                                   held-out accuracy after each round
//
// Benchmark tooling only.
import Foundation
import JSON
import Labeling
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
    case "features":
        let rewardModel = try RewardModel(base: try PretrainedModel.load(arguments[2]), seed: 1)
        let examples = try TrainingDataReader.rankingExamples(files: [arguments[3]], skipped: { fail("unexpected skip: \($0)") })
        let encoder = try ExampleEncoder(model: rewardModel.base, maximumLength: Int(arguments[5])!)
        let rankings = try examples.map(encoder.encode)
        let start = Date()
        let features = try rewardModel.answerFeatures(of: rankings)
        var flat: [Float] = []
        for pair in features { flat += pair[0] + pair[1] }
        try flat.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: arguments[4]))
        let shape: JSONValue = .object([
            ("pairs", .integer(Int64(rankings.count))), ("width", .integer(Int64(rewardModel.trunk.finalHiddenWidth))),
            ("chosen_characters", .array(rankings.map { .integer(Int64($0.answerCharacterCounts[0])) })),
            ("rejected_characters", .array(rankings.map { .integer(Int64($0.answerCharacterCounts[1])) })),
            ("truncated", .integer(Int64(rankings.filter(\.wasTruncated).count))),
            ("tokens", .integer(Int64(rankings.reduce(0) { $0 + $1.tokenCount }))), ("seconds", .double(Date().timeIntervalSince(start))),
        ])
        try Data(JSONWriter.string(shape).utf8).write(to: URL(fileURLWithPath: arguments[4] + ".json"))
    case "active":
        guard arguments.count == 11 else { fail("usage: TrainerBenchmark active POOL EVAL STRATEGY SEED INITIAL ROUND ROUNDS PENALTY SHARE") }
        let (pool, evaluation) = (try CachedPairFeatures(path: arguments[2]), try CachedPairFeatures(path: arguments[3]))
        let strategy = arguments[4]
        guard strategy == "random" || strategy == "uncertainty" else { fail("strategy: random or uncertainty, not \(strategy)") }
        let (seed, initial, round, rounds) = (UInt64(arguments[5])!, Int(arguments[6])!, Int(arguments[7])!, Int(arguments[8])!)
        let (penalty, randomShare) = (Double(arguments[9])!, Double(arguments[10])!)
        // The spread is taken over every answer of the pool, labelled or not: unlabelled answers are what a project has.
        let scale = FrozenTrunkPreferenceHead.scale(of: pool.pairs.flatMap { [$0.better, $0.worse] })
        var random = SeededRandom(seed: seed)
        var unlabelled = Array(pool.pairs.indices).shuffled(using: &random)
        var labelled: [Int] = Array(unlabelled.prefix(initial))
        unlabelled.removeFirst(initial)
        var head = FrozenTrunkPreferenceHead.fit(comparisons: labelled.map { pool.pairs[$0] }, scale: scale, penalty: penalty)
        var curve: [JSONValue] = [.object([("labels", .integer(Int64(labelled.count))), ("accuracy", .double(head.accuracy(on: evaluation.pairs)))])]
        let start = Date()
        for _ in 0..<rounds {
            var chosen: [Int] = []
            if strategy == "uncertainty" {
                // As the queue does: each task is drawn at random with probability SHARE, else it is
                // the waiting prompt whose candidates the latest head scores closest together.
                let margins = Dictionary(uniqueKeysWithValues: unlabelled.map { index in
                    (index, QueueUncertainty.smallestMargin([head.score(pool.pairs[index].better), head.score(pool.pairs[index].worse)])!)
                })
                var remaining = unlabelled.sorted { margins[$0]! < margins[$1]! }
                for _ in 0..<min(round, remaining.count) {
                    let index = Double(random.nextUniform()) < randomShare ? Int(random.next() % UInt64(remaining.count)) : 0
                    chosen.append(remaining.remove(at: index))
                }
            } else {
                chosen = Array(unlabelled.prefix(round))
            }
            let taken = Set(chosen)
            unlabelled.removeAll { taken.contains($0) }
            labelled += chosen
            head = FrozenTrunkPreferenceHead.fit(comparisons: labelled.map { pool.pairs[$0] }, scale: scale, penalty: penalty, start: head)
            curve.append(.object([("labels", .integer(Int64(labelled.count))), ("accuracy", .double(head.accuracy(on: evaluation.pairs)))]))
        }
        print(JSONWriter.string(.object([("strategy", .string(strategy)), ("seed", .integer(Int64(seed))), ("curve", .array(curve)),
                                         ("seconds", .double(Date().timeIntervalSince(start)))])))
    default:
        fail("unknown command \(arguments[1])")
    }
} catch {
    fail("\(error)")
}

/// Features written by `features`: each pair's chosen then rejected answer's hidden state.
struct CachedPairFeatures {
    let pairs: [(better: [Float], worse: [Float])]

    init(path: String) throws {
        let shape = try JSONParser.parse(String(decoding: Data(contentsOf: URL(fileURLWithPath: path + ".json")), as: UTF8.self))
        guard case .integer(let count)? = shape["pairs"], case .integer(let width)? = shape["width"] else { fail("\(path).json: no pairs and width") }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard data.count == Int(count * width) * 2 * MemoryLayout<Float>.size else { fail("\(path): \(data.count) bytes for \(count) pairs of width \(width)") }
        let values = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let (n, w) = (Int(count), Int(width))
        pairs = (0..<n).map { i in (Array(values[(2 * i * w)..<((2 * i + 1) * w)]), Array(values[((2 * i + 1) * w)..<((2 * i + 2) * w)])) }
    }
}
