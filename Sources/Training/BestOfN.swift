import TransformerCore

/// Best-of-n: n answers sampled from the policy, the one the reward model scores highest
/// returned. The baseline every RL result is compared with (its KL to the policy is at most
/// log n - (n - 1) / n nats, whatever the reward).
public enum BestOfN {
    public struct Choice: Sendable {
        /// Every answer with its reward, best first.
        public let answers: [(text: String, reward: Float, ended: Bool)]
        public var best: (text: String, reward: Float, ended: Bool) { answers[0] }
    }

    /// The n answers to each prompt, ranked by reward; sampling as `options` says (its stop
    /// tokens are the policy's).
    public static func choose(policy: PretrainedModel, reward: any AnswerReward, prompts: [[ChatTemplate.Message]], n: Int,
                              options: SamplingOptions, maximumPromptLength: Int? = nil) throws -> [Choice] {
        guard (1...1024).contains(n) else { throw TrainingOptionError("--best-of", "must be from 1 to 1024, got \(n)") }
        let encoded = try prompts.map { conversation in
            (conversation: conversation, tokens: Array(try policy.promptTokens(conversation).suffix(maximumPromptLength ?? policy.model.contextLength - options.maximumNewTokens)))
        }
        let episodes = try Episode.sample(policy: policy, prompts: encoded, answersPerPrompt: n, options: options)
        let scores = try reward.scores(of: episodes)
        return prompts.indices.map { prompt in
            let members = (prompt * n)..<((prompt + 1) * n)
            let answers = members.map { (text: episodes[$0].answerText(tokenizer: policy.tokenizer), reward: scores[$0], ended: episodes[$0].ended) }
            // Stable: among equal rewards the earlier sample wins.
            return Choice(answers: answers.enumerated().sorted { $0.element.reward != $1.element.reward ? $0.element.reward > $1.element.reward : $0.offset < $1.offset }.map(\.element))
        }
    }
}
