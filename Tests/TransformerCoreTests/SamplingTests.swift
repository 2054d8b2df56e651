import Foundation
import Testing
@testable import TransformerCore

@Suite("Sampling with a key/value cache", .serialized)
struct SamplingTests {
    @Test func greedyWithTheCacheReproducesTheReference() throws {
        let model = try GPT2ReferenceTests.loadedModel()
        let prompt = try GPT2ReferenceTests.fixture.integers("greedy/prompt").map(Int32.init)
        let expected = try GPT2ReferenceTests.fixture.integers("greedy/output").map(Int32.init)
        var options = SamplingOptions()
        options.temperature = 0
        options.maximumNewTokens = expected.count
        let result = try model.sample(prompts: [prompt], options: options)
        #expect(result[0].tokens == expected)
        #expect(!result[0].stopped)
    }

    @Test func logProbabilitiesMatchAFullForwardPass() throws {
        let model = try GPT2ReferenceTests.loadedModel()
        let prompt: [Int32] = [5, 17, 300, 42]
        var options = SamplingOptions()
        options.temperature = 0.7
        options.maximumNewTokens = 6
        options.seed = 9
        let sample = try model.sample(prompts: [prompt], options: options)[0]
        let sequence = prompt + sample.tokens
        try model.forward(tokens: sequence, batchSize: 1, sequenceLength: sequence.count)
        let V = model.configuration.vocabularySize
        for (index, token) in sample.tokens.enumerated() {
            let row = Array(model.logits[((prompt.count - 1 + index) * V)..<((prompt.count + index) * V)]).map { Double($0) / 0.7 }
            let maximum = row.max()!
            let logNormalizer = log(row.map { exp($0 - maximum) }.reduce(0, +)) + maximum
            let expected = row[Int(token)] - logNormalizer
            #expect(abs(Double(sample.logProbabilities[index]) - expected) < 1e-3, "token \(index)")
        }
    }

    @Test func batchedPromptsOfDifferentLengthsMatchOneAtATime() throws {
        let model = try GPT2ReferenceTests.loadedModel()
        let prompts: [[Int32]] = [[1, 2, 3], [400, 401, 402, 403, 404, 405, 406], [77]]
        var options = SamplingOptions()
        options.temperature = 0
        options.maximumNewTokens = 10
        let together = try model.sample(prompts: prompts, options: options)
        for (index, prompt) in prompts.enumerated() {
            let alone = try model.sample(prompts: [prompt], options: options)[0]
            #expect(together[index].tokens == alone.tokens)
            for (a, b) in zip(together[index].logProbabilities, alone.logProbabilities) { #expect(abs(a - b) < 1e-4) }
        }
    }

    /// Identical prompts share one prefill: each copy's cache must still be its own, so greedy
    /// copies decode alike and as the prompt alone does, beside a different prompt.
    @Test func identicalPromptsSharePrefillAndDecodeAsAlone() throws {
        var options = SamplingOptions()
        options.temperature = 0
        options.maximumNewTokens = 8
        let gpt2 = try GPT2ReferenceTests.loadedModel()
        let prompts: [[Int32]] = [[5, 6, 7, 8], [90, 91], [5, 6, 7, 8]]
        let together = try gpt2.sample(prompts: prompts, options: options)
        #expect(together[0].tokens == together[2].tokens)
        for (index, prompt) in prompts.enumerated() {
            let alone = try gpt2.sample(prompts: [prompt], options: options)[0]
            #expect(together[index].tokens == alone.tokens, "prompt \(index)")
            for (a, b) in zip(together[index].logProbabilities, alone.logProbabilities) { #expect(abs(a - b) < 1e-4) }
        }
        // Sampled (not greedy) copies start from the same logits yet draw their own tokens.
        options.temperature = 1
        options.seed = 7
        let drawn = try gpt2.sample(prompts: Array(repeating: [5, 6, 7, 8], count: 4), options: options)
        #expect(Set(drawn.map(\.tokens)).count > 1, "four samples of one prompt are not all the same")
    }

    @Test func seededSamplingRepeatsAndSeedsDiffer() throws {
        let model = try GPT2ReferenceTests.loadedModel()
        var options = SamplingOptions()
        options.maximumNewTokens = 20
        options.seed = 1
        let first = try model.sample(prompts: [[10, 20]], options: options)
        let again = try model.sample(prompts: [[10, 20]], options: options)
        options.seed = 2
        let other = try model.sample(prompts: [[10, 20]], options: options)
        #expect(first == again)
        #expect(first[0].tokens != other[0].tokens)
    }

    @Test func topKOfOneIsGreedy() throws {
        let model = try GPT2ReferenceTests.loadedModel()
        var greedy = SamplingOptions()
        greedy.temperature = 0
        greedy.maximumNewTokens = 12
        var topOne = SamplingOptions()
        topOne.topK = 1
        topOne.maximumNewTokens = 12
        topOne.seed = 5
        #expect(try model.sample(prompts: [[3, 4]], options: greedy)[0].tokens == model.sample(prompts: [[3, 4]], options: topOne)[0].tokens)
    }

    @Test func stopTokensEndASequenceAndAreKept() throws {
        let model = try GPT2ReferenceTests.loadedModel()
        var options = SamplingOptions()
        options.temperature = 0
        options.maximumNewTokens = 12
        let free = try model.sample(prompts: [[3, 4]], options: options)[0]
        options.stopTokens = [free.tokens[2]]
        let stopped = try model.sample(prompts: [[3, 4]], options: options)[0]
        #expect(stopped.stopped)
        #expect(stopped.tokens == Array(free.tokens.prefix(through: free.tokens.firstIndex(of: free.tokens[2])!)))
    }

    @Test func badOptionsAreNamed() throws {
        let model = try GPT2ReferenceTests.loadedModel()
        var options = SamplingOptions()
        options.topP = 0
        #expect { try model.sample(prompts: [[1]], options: options) } throws: { "\($0)".contains("top-p") }
        options = SamplingOptions()
        options.maximumNewTokens = 100
        #expect { try model.sample(prompts: [[1]], options: options) } throws: { "\($0)".contains("context length") }
    }
}
