import TransformerCore

/// A policy's answers to held-out prompts: one each, sampled with a fixed seed at the training
/// temperature, so that evaluations during a run differ only by the policy. Reports the mean
/// reward, the KL to the reference per answer, and a few answers to read.
public struct PolicyEvaluation: Sendable {
    public let meanReward: Double
    public let rewardStandardDeviation: Double
    public let meanKLPerAnswer: Double
    public let meanAnswerLength: Double
    public let endedFraction: Double
    public let samples: [AnswerSample]

    static let sampleCount = 3
    static let seed: UInt64 = 0x5EED_E7A1

    init(policy: PretrainedModel, reference: PretrainedModel, reward: any AnswerReward,
         prompts: [(conversation: [ChatTemplate.Message], tokens: [Int32])], options: PolicyOptions) throws {
        var sampling = options.sampling
        sampling.seed = Self.seed
        let episodes = try Episode.sample(policy: policy, prompts: prompts, answersPerPrompt: 1, options: sampling)
        let scores = try reward.scores(of: episodes).map(Double.init)
        let referenceLogProbabilities = try reference.answerLogProbabilities(of: episodes, temperature: options.temperature)
        let kl = zip(episodes, referenceLogProbabilities).map { episode, reference in
            Double(zip(episode.samplingLogProbabilities, reference).reduce(0) { $0 + $1.0 - $1.1 })
        }
        meanReward = mean(scores)
        rewardStandardDeviation = standardDeviation(scores)
        meanKLPerAnswer = mean(kl)
        meanAnswerLength = mean(episodes.map { Double($0.answer.count) })
        endedFraction = Double(episodes.filter(\.ended).count) / Double(max(1, episodes.count))
        samples = zip(episodes, scores).prefix(Self.sampleCount).map { episode, score in
            AnswerSample(prompt: episode.conversation.last?.content ?? "", answer: episode.answerText(tokenizer: policy.tokenizer), reward: Float(score), ended: episode.ended)
        }
    }

    public var metrics: [(name: String, value: Double)] {
        [("eval_reward", meanReward), ("eval_reward_std", rewardStandardDeviation), ("eval_kl_per_answer", meanKLPerAnswer),
         ("eval_answer_length", meanAnswerLength), ("eval_ended_fraction", endedFraction)]
    }
}
