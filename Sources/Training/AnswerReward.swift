import TransformerCore

/// What scores the policy's answers: a reward model trained on human rankings, or in tests a
/// rule (an answer's count of one token).
public protocol AnswerReward {
    /// The score of each episode's answer, before any KL penalty.
    func scores(of episodes: [Episode]) throws -> [Float]
}

/// A reward model scoring a policy's episodes. When both share a tokenizer and chat template
/// the reward model reads the very tokens the policy sampled, the answers to one prompt sharing
/// one pass (`RankingBatch`); otherwise each conversation is rendered with the reward model's
/// template and each answer's text encoded with its tokenizer. Either way the score is read at
/// the answer's last token: its end of turn, or the last token of an answer cut at the limit,
/// never a pad after it.
public struct RewardModelScorer: AnswerReward {
    public let rewardModel: RewardModel
    public let policyTokenizer: BytePairTokenizer
    /// Whether the reward model reads the policy's tokens as they are.
    public let sharesTokens: Bool
    let maximumLength: Int

    public init(rewardModel: RewardModel, policy: PretrainedModel) throws {
        self.rewardModel = rewardModel
        policyTokenizer = policy.tokenizer
        maximumLength = rewardModel.trunk.contextLength
        sharesTokens = try Self.rendersAlike(policy, rewardModel.base)
    }

    /// Same vocabulary, same special tokens and the same rendering of a probe conversation.
    static func rendersAlike(_ policy: PretrainedModel, _ reward: PretrainedModel) throws -> Bool {
        guard policy.tokenizer.tokenBytes == reward.tokenizer.tokenBytes, policy.tokenizer.specialTokens == reward.tokenizer.specialTokens else { return false }
        let probe = [ChatTemplate.Message(role: "system", content: "Be brief."), ChatTemplate.Message(role: "user", content: "Hello, how are you?")]
        return try policy.promptTokens(probe) == reward.promptTokens(probe) && policy.endOfTurnToken() == reward.endOfTurnToken()
    }

    public func scores(of episodes: [Episode]) throws -> [Float] {
        let groups = sharesTokens ? Self.groups(episodes) : episodes.indices.map { [$0] }
        let rankings = try groups.map { members in
            sharesTokens ? ranking(prompt: episodes[members[0]].prompt, answers: members.map { episodes[$0].answer }) : try reencoded(episodes[members[0]])
        }
        var scores = [Float](repeating: 0, count: episodes.count)
        for (members, rewards) in zip(groups, try rewardModel.rewards(of: rankings)) {
            for (index, reward) in zip(members, rewards) { scores[index] = reward }
        }
        return scores
    }

    /// Runs of episodes with the same group and prompt tokens: one ranking each, its prompt
    /// computed once for all its answers.
    static func groups(_ episodes: [Episode]) -> [[Int]] {
        var groups: [[Int]] = []
        for index in episodes.indices {
            if let last = groups.last?.last, episodes[last].group == episodes[index].group, episodes[last].prompt == episodes[index].prompt {
                groups[groups.count - 1].append(index)
            } else {
                groups.append([index])
            }
        }
        return groups
    }

    /// The episode in the reward model's own template and tokens; an answer cut at the limit
    /// stays without an end of turn.
    private func reencoded(_ episode: Episode) throws -> EncodedRanking {
        let base = rewardModel.base
        var answer = base.tokenizer.encode(episode.answerText(tokenizer: policyTokenizer))
        if episode.ended || answer.isEmpty { answer.append(try base.endOfTurnToken()) }
        answer = Array(answer.prefix(maximumLength - 1))
        let prompt = Array(try base.promptTokens(episode.conversation).suffix(maximumLength - answer.count))
        return ranking(prompt: prompt, answers: [answer])
    }

    private func ranking(prompt: [Int32], answers: [[Int32]]) -> EncodedRanking {
        EncodedRanking(prompt: prompt, answers: answers, ranks: answers.map { _ in 1 }, answerCharacterCounts: answers.map(\.count),
                       labelerGroup: nil, wasTruncated: false, source: SourceLine(file: "policy sample", line: 0))
    }
}
