import TransformerCore

/// One answer the policy sampled for one prompt: an episode of policy optimization.
public struct Episode: Sendable {
    /// The conversation the prompt renders (what a reward model with another tokenizer re-renders).
    public let conversation: [ChatTemplate.Message]
    /// The rendered prompt, ending with the assistant's header.
    public let prompt: [Int32]
    /// The sampled tokens, the stop token included when the answer stopped at one.
    public let answer: [Int32]
    /// Whether the answer ended at a stop token (the end of turn) rather than at the length limit.
    public let ended: Bool
    /// log pi(token) of each answer token at the sampling temperature, as the sampler computed it.
    public let samplingLogProbabilities: [Float]
    /// Episodes of the same prompt within an iteration share a group (RLOO's and GRPO's baseline).
    public let group: Int

    /// The answer's text, without its stop token.
    public func answerText(tokenizer: BytePairTokenizer) -> String {
        tokenizer.decode(ended ? Array(answer.dropLast()) : answer)
    }

    /// Samples `answersPerPrompt` answers to each prompt in one batch of sequences decoded
    /// together, with no top-k or top-p (see `PolicyOptions.sampling`).
    /// `isAbandoned` is asked as tokens come: once it says yes, decoding stops and the caller
    /// throws the iteration away.
    static func sample(policy: PretrainedModel, prompts: [(conversation: [ChatTemplate.Message], tokens: [Int32])], answersPerPrompt: Int,
                       options: SamplingOptions, isAbandoned: (() -> Bool)? = nil) throws -> [Episode] {
        var options = options
        options.stopTokens = policy.stopTokens
        let repeated = prompts.flatMap { Array(repeating: $0, count: answersPerPrompt) }
        let samples = try policy.model.sample(prompts: repeated.map(\.tokens), options: options, observer: isAbandoned.map { abandoned in { _, _, _ in !abandoned() } })
        return zip(repeated.indices, samples).map { index, sample in
            Episode(conversation: repeated[index].conversation, prompt: repeated[index].tokens, answer: sample.tokens, ended: sample.stopped,
                    samplingLogProbabilities: sample.logProbabilities, group: index / answersPerPrompt)
        }
    }
}
