/// How well a reward model orders held-out pairs: its accuracy beside the "longer answer wins"
/// baseline and chance on the same pairs, overall, by labeler group (InstructGPT's check that
/// the model generalises to labelers it never trained on) and by answer length.
public struct RewardEvaluation: Sendable {
    public struct Tally: Sendable, Equatable {
        public var pairs = 0
        /// Pairs whose winner the model scores strictly higher.
        public var correct = 0
        /// Pairs the model scores exactly equal: counted apart, neither right nor wrong.
        public var equalScores = 0
        public var accuracy: Double { pairs > 0 ? Double(correct) / Double(pairs) : 0 }
    }

    public private(set) var overall = Tally()
    /// "Longer answer wins" on the same pairs (by characters); equal lengths count half.
    public private(set) var lengthBaselineCorrect = 0.0
    public private(set) var byGroup: [String: Tally] = [:]
    /// By the longer answer's length in tokens: "<64", "64-127", "128-255", ">=256".
    public private(set) var byLength: [String: Tally] = [:]
    /// Pairs the labelers tied (equal ranks): no accuracy, but how far apart the model puts them.
    public private(set) var tiedPairs = 0
    public private(set) var tiedPairsMeanGap = 0.0
    public private(set) var lossSum = 0.0
    public private(set) var rankings = 0
    public private(set) var rewardSum = 0.0
    public private(set) var rewardCount = 0
    public private(set) var marginSum = 0.0

    public static let lengthBuckets = ["<64", "64-127", "128-255", ">=256"]

    public init() {}

    public var lengthBaselineAccuracy: Double { overall.pairs > 0 ? lengthBaselineCorrect / Double(overall.pairs) : 0 }
    public var meanLoss: Double { rankings > 0 ? lossSum / Double(rankings) : 0 }
    public var meanReward: Double { rewardCount > 0 ? rewardSum / Double(rewardCount) : 0 }
    public var meanMargin: Double { overall.pairs > 0 ? marginSum / Double(overall.pairs) : 0 }

    mutating func add(_ ranking: EncodedRanking, rewards: [Float]) {
        let loss = RankingLoss(scores: rewards, ranks: ranking.ranks)
        lossSum += loss.loss
        rankings += 1
        rewardSum += rewards.reduce(0.0) { $0 + Double($1) }
        rewardCount += rewards.count
        marginSum += loss.marginSum
        let group = ranking.labelerGroup ?? "unknown"
        for i in ranking.ranks.indices {
            for j in ranking.ranks.indices where i < j {
                let gap = Double(rewards[i]) - Double(rewards[j])
                if ranking.ranks[i] == ranking.ranks[j] {
                    tiedPairsMeanGap += (abs(gap) - tiedPairsMeanGap) / Double(tiedPairs + 1)
                    tiedPairs += 1
                    continue
                }
                let (winner, loser) = ranking.ranks[i] < ranking.ranks[j] ? (i, j) : (j, i)
                let margin = Double(rewards[winner]) - Double(rewards[loser])
                let length = max(ranking.answers[winner].count, ranking.answers[loser].count)
                let bucket = length < 64 ? Self.lengthBuckets[0] : length < 128 ? Self.lengthBuckets[1] : length < 256 ? Self.lengthBuckets[2] : Self.lengthBuckets[3]
                Self.count(&overall, margin)
                Self.count(&byGroup[group, default: Tally()], margin)
                Self.count(&byLength[bucket, default: Tally()], margin)
                let (winnerLength, loserLength) = (ranking.answerCharacterCounts[winner], ranking.answerCharacterCounts[loser])
                lengthBaselineCorrect += winnerLength > loserLength ? 1 : winnerLength == loserLength ? 0.5 : 0
            }
        }
    }

    private static func count(_ tally: inout Tally, _ margin: Double) {
        tally.pairs += 1
        if margin > 0 { tally.correct += 1 } else if margin == 0 { tally.equalScores += 1 }
    }

    /// Scores `rankings` with `model` and tallies them.
    public static func evaluate(_ model: RewardModel, on rankings: [EncodedRanking], sharesPrompt: Bool = true) throws -> RewardEvaluation {
        var evaluation = RewardEvaluation()
        let rewards = try model.rewards(of: rankings, sharesPrompt: sharesPrompt)
        for (ranking, scores) in zip(rankings, rewards) { evaluation.add(ranking, rewards: scores) }
        return evaluation
    }
}
