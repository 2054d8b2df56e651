import ArgumentParser
import Foundation
import JSON
import Training
import TransformerCore

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Print completions of a prompt from a policy (a GGUF file or a Hugging Face folder), or the best of N by a reward model.",
        discussion: """
            With --best-of N and --reward, samples N completions and prints the one the reward model \
            scores highest (best-of-n, the baseline RL results are compared with); --json prints all N \
            with their rewards, best first.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The policy: a GGUF file or a Hugging Face folder.", valueName: "path")) var model: String
    @Option(name: .long, help: "The user's message; the model's chat template renders it.") var prompt: String
    @Option(name: .shortAndLong, help: "How many completions.") var n = 1
    @Option(name: .long, help: "Sampling temperature; 0 picks the likeliest token.") var temperature: Float = 0.7
    @Option(name: .long, help: "Nucleus sampling: the smallest set of tokens of at least this probability.") var topP: Float = 0.9
    @Option(name: .long, help: "The longest completion, in tokens.") var maxTokens = 128
    @Option(name: .long, help: "Seeds the sampling.") var seed: UInt64 = 0
    @Option(name: .long, help: "Sample this many completions and print the reward model's favourite (needs --reward).") var bestOf: Int?
    @Option(name: .long, help: ArgumentHelp("The reward model folder that picks the best of --best-of.", valueName: "path")) var reward: String?
    @Flag(name: .long, help: "With --best-of: print every completion with its reward as JSON, best first.") var json = false
    @Option(name: .long, help: "Compute threads (default: every core).") var threads: Int?

    func run() throws {
        if let bestOf {
            guard let reward else { throw ValidationError("--best-of: needs --reward, the reward model that picks the best") }
            return try runBestOf(bestOf, rewardPath: reward)
        }
        guard reward == nil else { throw ValidationError("--reward: only picks among --best-of completions; give --best-of N") }
        guard (1...64).contains(n) else { throw ValidationError("-n: must be from 1 to 64, got \(n)") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens: must be at least 1, got \(maxTokens)") }
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ValidationError("--prompt: is empty") }
        let policy = try PretrainedModel.load(model)
        let tokens = try policy.promptTokens([ChatTemplate.Message(role: "user", content: prompt)])
        var options = SamplingOptions()
        (options.temperature, options.topP, options.maximumNewTokens, options.stopTokens, options.seed) = (temperature, topP, maxTokens, policy.stopTokens, seed)
        let samples = try ComputeThreads(count: threads ?? ComputeThreads.shared.count).run {
            try policy.model.sample(prompts: Array(repeating: tokens, count: n), options: options)
        }
        for (index, sample) in samples.enumerated() {
            let answer = sample.stopped ? Array(sample.tokens.dropLast()) : sample.tokens
            if n > 1 { print("--- completion \(index + 1)\(sample.stopped ? "" : " (cut at --max-tokens)")") }
            print(policy.tokenizer.decode(answer))
        }
    }

    private func runBestOf(_ count: Int, rewardPath: String) throws {
        guard (1...1024).contains(count) else { throw ValidationError("--best-of: must be from 1 to 1024, got \(count)") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens: must be at least 1, got \(maxTokens)") }
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ValidationError("--prompt: is empty") }
        let policy = try PretrainedModel.load(model)
        let rewardModel: RewardModel
        do { rewardModel = try RewardModel(contentsOf: rewardPath) } catch { throw ValidationError("--reward: \(error)") }
        let scorer = try RewardModelScorer(rewardModel: rewardModel, policy: policy)
        var options = SamplingOptions()
        (options.temperature, options.topP, options.maximumNewTokens, options.seed) = (temperature, topP, maxTokens, seed)
        let choice = try ComputeThreads(count: threads ?? ComputeThreads.shared.count).run {
            try BestOfN.choose(policy: policy, reward: scorer, prompts: [[ChatTemplate.Message(role: "user", content: prompt)]], n: count, options: options)[0]
        }
        if json {
            for answer in choice.answers {
                print(JSONWriter.string(.object([("reward", .double(Double(answer.reward))), ("ended", .bool(answer.ended)), ("text", .string(answer.text))])))
            }
        } else {
            FileHandle.standardError.write(Data(String(format: "best of %d: reward %.4f (the others %.4f to %.4f)\n", count, choice.best.reward,
                                                       choice.answers.last!.reward, choice.answers.count > 1 ? choice.answers[1].reward : choice.best.reward).utf8))
            print(choice.best.text)
        }
    }
}

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Print a reward model's reward for one response to one prompt."
    )

    @Option(name: .long, help: ArgumentHelp("The reward model folder.", valueName: "path")) var model: String
    @Option(name: .long, help: "The user's message.") var prompt: String
    @Option(name: .long, help: "The assistant's response to score.") var response: String
    @Option(name: .long, help: "The longest prompt and response, in tokens; longer keeps the end of the prompt.") var maxLength = 256

    func run() throws {
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ValidationError("--prompt: is empty") }
        guard !response.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ValidationError("--response: is empty") }
        let rewardModel = try RewardModel(contentsOf: model)
        let reward = try rewardModel.reward(prompt: [ChatTemplate.Message(role: "user", content: prompt)], answer: response, maximumLength: maxLength)
        print(String(format: "%.4f", reward))
    }
}
