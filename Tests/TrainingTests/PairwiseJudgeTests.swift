import Foundation
import Testing
@testable import Training
import TransformerCore

@Suite struct PairwiseJudgeTests {
    /// Asked in both orders, the judge's preferences of a pair are complementary (its position
    /// bias cancels), each is the softmax of the two letters' logits at the reply's first token,
    /// and a ranking's expected wins sum to its number of pairs.
    @Test func bothOrdersCancelThePositionAndWinsSumToThePairs() throws {
        let model = try TinyModels.llama(seed: 7)
        let judge = try PairwiseJudge(model: model, rubric: "Prefer fruit.")
        let prompt = TinyModels.user("name a fruit.")
        let forward = try judge.preference(prompt: prompt, first: "a banana", second: "the cat sat on the mat")
        let backward = try judge.preference(prompt: prompt, first: "the cat sat on the mat", second: "a banana")
        #expect(abs(forward + backward - 1) < 1e-9 && forward > 0 && forward < 1)
        #expect(judge.question(prompt: prompt, first: "x", second: "y")[0].content.hasPrefix("Guidelines for judging answers: Prefer fruit."))

        // One order by hand: the letters' logits at the last position of the question.
        let tokens = try model.promptTokens(judge.question(prompt: prompt, first: "a banana", second: "the cat sat on the mat"))
        try model.model.forward(tokens: tokens, targets: nil, attentionMask: nil, positionIDs: nil, batchSize: 1, sequenceLength: tokens.count,
                                forBackward: false, logits: .every)
        let row = (tokens.count - 1) * model.model.vocabularySize
        let (a, b) = (Double(model.model.logits[row + Int(model.tokenizer.encode("A")[0])]), Double(model.model.logits[row + Int(model.tokenizer.encode("B")[0])]))
        let reversed = try model.promptTokens(judge.question(prompt: prompt, first: "the cat sat on the mat", second: "a banana"))
        try model.model.forward(tokens: reversed, targets: nil, attentionMask: nil, positionIDs: nil, batchSize: 1, sequenceLength: reversed.count,
                                forBackward: false, logits: .every)
        let last = (reversed.count - 1) * model.model.vocabularySize
        let (a2, b2) = (Double(model.model.logits[last + Int(model.tokenizer.encode("A")[0])]), Double(model.model.logits[last + Int(model.tokenizer.encode("B")[0])]))
        let expected = (1 / (1 + exp(b - a)) + 1 / (1 + exp(a2 - b2))) / 2
        #expect(abs(forward - expected) < 1e-6)

        let wins = try judge.expectedWins(prompt: prompt, answers: ["a banana", "a pear", "the sky is blue"])
        #expect(abs(wins.reduce(0, +) - 3) < 1e-9 && wins.allSatisfy { $0 >= 0 && $0 <= 2 })
    }
}
