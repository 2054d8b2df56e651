import Foundation
import Testing
@testable import Training
import TransformerCore

@Suite struct FrozenTrunkPreferenceHeadTests {
    /// Comparisons decided by a hidden direction, with a fifth of them flipped (label noise):
    /// the fitted head finds the direction (held-out accuracy near the 80% the noise allows,
    /// weights pointing along it), and its fit is the loss's minimum (the gradient vanishes).
    @Test func findsTheDirectionThatDecidesThePreferences() {
        var random = SeededRandom(seed: 3)
        let width = 8
        let truth: [Float] = [2, -1, 0, 0, 0.5, 0, 0, 0]
        func utility(_ x: [Float]) -> Float {
            var total: Float = 0
            for i in 0..<width { total += x[i] * truth[i] }
            return total
        }
        func comparison() -> (better: [Float], worse: [Float]) {
            let a: [Float] = (0..<width).map { _ in random.nextNormal() * 3 }, b: [Float] = (0..<width).map { _ in random.nextNormal() * 3 }
            let aWins = utility(a) > utility(b)
            let flipped = random.nextUniform() < 0.2
            return aWins != flipped ? (a, b) : (b, a)
        }
        let training = (0..<400).map { _ in comparison() }, heldOut = (0..<400).map { _ in comparison() }
        let scale = FrozenTrunkPreferenceHead.scale(of: training.flatMap { [$0.better, $0.worse] })
        #expect(scale.allSatisfy { abs($0 - 3) < 0.5 })
        let head = FrozenTrunkPreferenceHead.fit(comparisons: training, scale: scale, penalty: 1)
        #expect(head.accuracy(on: heldOut) > 0.72)
        let learned: [Double] = (0..<width).map { head.weights[$0] / scale[$0] }
        var (along, learnedLength, truthLength) = (0.0, 0.0, 0.0)
        for i in 0..<width {
            along += learned[i] * Double(truth[i])
            learnedLength += learned[i] * learned[i]
            truthLength += Double(truth[i] * truth[i])
        }
        let cosine = along / (learnedLength.squareRoot() * truthLength.squareRoot())
        #expect(cosine > 0.95)

        // The minimum: d/dw [sum softplus(-w.d) + penalty/2 |w|^2] = 0.
        var gradient = head.weights.map { $0 * 1.0 }
        for pair in training {
            let d = (0..<width).map { (Double(pair.better[$0]) - Double(pair.worse[$0])) / scale[$0] }
            var margin = 0.0
            for i in 0..<width { margin += head.weights[i] * d[i] }
            for i in 0..<width { gradient[i] -= d[i] / (1 + exp(margin)) }
        }
        #expect(gradient.allSatisfy { abs($0) < 1e-5 })

        // A warm start from the answer stays there.
        let again = FrozenTrunkPreferenceHead.fit(comparisons: training, scale: scale, penalty: 1, start: head)
        #expect(zip(again.weights, head.weights).allSatisfy { abs($0 - $1) < 1e-9 })
    }

    /// The features are what the reward model's head reads: its own weights put on them give
    /// its raw scores (the same token, the same pass layout).
    @Test func answerFeaturesAreWhatTheHeadReads() throws {
        let base = try TinyModels.llama(seed: 5)
        let rewardModel = try RewardModel(base: base, seed: 11)
        let encoder = try ExampleEncoder(model: base, maximumLength: 128)
        let rankings = try [("name a fruit.", ["a pear", "an apple, a pear or a plum"]), ("say something nice.", ["it is sunny", "the sky is blue and warm", "no"])]
            .enumerated().map { index, item in
                try encoder.encode(RankingExample(prompt: TinyModels.user(item.0), answers: item.1, ranks: Array(1...item.1.count), source: TinyModels.source(index + 1)))
            }
        let features = try rewardModel.answerFeatures(of: rankings)
        let scores = try rewardModel.rawScores(of: rankings, sharesPrompt: true)
        let weights = (0..<rewardModel.head.width).map { Double(rewardModel.head.parameters.pointer[$0]) }
        let head = FrozenTrunkPreferenceHead(weights: weights, scale: Array(repeating: 1, count: weights.count))
        #expect(features.map(\.count) == [2, 3])
        for (rankingFeatures, rankingScores) in zip(features, scores) {
            for (answer, score) in zip(rankingFeatures, rankingScores) { #expect(abs(head.score(answer) - Double(score)) < 1e-4) }
        }
    }
}
