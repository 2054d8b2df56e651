import ArgumentParser
import Foundation
import Training
import TransformerCore

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Print completions of a prompt from a policy (a GGUF file or a Hugging Face folder)."
    )

    @Option(name: .long, help: ArgumentHelp("The policy: a GGUF file or a Hugging Face folder.", valueName: "path")) var model: String
    @Option(name: .long, help: "The user's message; the model's chat template renders it.") var prompt: String
    @Option(name: .shortAndLong, help: "How many completions (default: 1).") var n = 1
    @Option(name: .long, help: "Sampling temperature; 0 picks the likeliest token (default: 0.7).") var temperature: Float = 0.7
    @Option(name: .long, help: "Nucleus sampling: the smallest set of tokens of at least this probability (default: 0.9).") var topP: Float = 0.9
    @Option(name: .long, help: "The longest completion, in tokens (default: 128).") var maxTokens = 128
    @Option(name: .long, help: "Seeds the sampling (default: 0).") var seed: UInt64 = 0
    @Option(name: .long, help: "Compute threads (default: every core).") var threads: Int?

    func run() throws {
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
}

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Print a reward model's reward for one response to one prompt."
    )

    @Option(name: .long, help: ArgumentHelp("The reward model folder.", valueName: "path")) var model: String
    @Option(name: .long, help: "The user's message.") var prompt: String
    @Option(name: .long, help: "The assistant's response to score.") var response: String
    @Option(name: .long, help: "The longest prompt and response, in tokens; longer keeps the end of the prompt (default: 256).") var maxLength = 256

    func run() throws {
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ValidationError("--prompt: is empty") }
        guard !response.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ValidationError("--response: is empty") }
        let rewardModel = try RewardModel(contentsOf: model)
        let reward = try rewardModel.reward(prompt: [ChatTemplate.Message(role: "user", content: prompt)], answer: response, maximumLength: maxLength)
        print(String(format: "%.4f", reward))
    }
}
