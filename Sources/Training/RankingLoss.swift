import Foundation

/// InstructGPT's reward-model loss for one ranking of K answers: the mean over its C(K,2)
/// non-tied pairs of -log sigmoid(r(winner) - r(loser)). Tied pairs make no term; a pair file
/// is the K = 2 case. No margin inside the loss (TRL's optional `margin` column is not used).
public struct RankingLoss: Sendable, Equatable {
    public let loss: Double
    /// d loss / d score of each answer.
    public let scoreGradients: [Float]
    public let pairCount: Int
    /// Pairs whose winner scored strictly higher.
    public let correctPairs: Int
    /// The sum over pairs of r(winner) - r(loser).
    public let marginSum: Double

    public init(scores: [Float], ranks: [Int]) {
        precondition(scores.count == ranks.count)
        var loss = 0.0, marginSum = 0.0, pairs = 0, correct = 0
        var gradients = [Double](repeating: 0, count: scores.count)
        for i in ranks.indices {
            for j in ranks.indices where ranks[i] < ranks[j] {
                let difference = Double(scores[i]) - Double(scores[j])
                loss += Self.negativeLogSigmoid(difference)
                // d/dd of -log sigmoid(d) = -sigmoid(-d).
                let slope = -Self.sigmoid(-difference)
                gradients[i] += slope
                gradients[j] -= slope
                marginSum += difference
                pairs += 1
                if difference > 0 { correct += 1 }
            }
        }
        let scale = pairs > 0 ? 1 / Double(pairs) : 0
        self.loss = loss * scale
        scoreGradients = gradients.map { Float($0 * scale) }
        pairCount = pairs
        correctPairs = correct
        self.marginSum = marginSum
    }

    /// log(1 + e^-x), without overflow for large |x|.
    static func negativeLogSigmoid(_ x: Double) -> Double {
        x >= 0 ? log1p(exp(-x)) : -x + log1p(exp(x))
    }

    static func sigmoid(_ x: Double) -> Double {
        x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))
    }
}
