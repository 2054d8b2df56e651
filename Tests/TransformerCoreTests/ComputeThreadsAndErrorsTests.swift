import Foundation
import TallyTestSupport
import Testing
@testable import TransformerCore

@Suite("Compute threads and typed errors")
struct ComputeThreadsAndErrorsTests {
    /// A pool's threads do every iteration once, the calling thread among them, and a forward
    /// pass on a pool of one thread computes what the shared pool computes.
    @Test func poolsRunEveryIterationOnceAndGiveTheSameResults() throws {
        let pool = ComputeThreads(count: 8, priority: .background)
        #expect(pool.count == min(8, ComputeThreads.maximumCount))
        var counts = [Int](repeating: 0, count: 1000)
        counts.withUnsafeMutableBufferPointer { counts in
            let pointer = counts.baseAddress!
            pool.forEach(1000) { pointer[$0] += 1 }
        }
        #expect(counts.allSatisfy { $0 == 1 })
        // A section started inside a section runs on its thread instead of deadlocking.
        let total = Guarded(0)
        pool.forEach(4) { _ in pool.forEach(3) { _ in total.withLock { $0 += 1 } } }
        #expect(total.load() == 12)

        let model = try GPT2ReferenceTests.loadedModel()
        let (tokens, targets) = try GPT2ReferenceTests.batch()
        let T = GPT2ReferenceTests.configuration.contextLength
        let shared = try model.forward(tokens: tokens, targets: targets, attentionMask: nil, positionIDs: nil,
                                       batchSize: tokens.count / T, sequenceLength: T, forBackward: true).loss!
        let single = ComputeThreads(count: 1)
        let alone = try single.run {
            #expect(ComputeThreads.current === single)
            return try model.forward(tokens: tokens, targets: targets, attentionMask: nil, positionIDs: nil,
                                     batchSize: tokens.count / T, sequenceLength: T, forBackward: true).loss!
        }
        #expect(ComputeThreads.current === ComputeThreads.shared)
        #expect(abs(shared - alone) < 1e-5)
    }

    @Test func errorsSayWhatWentWrongAsCases() throws {
        let model = try GPT2ReferenceTests.loadedModel()
        #expect(throws: ModelInputError.outsideVocabulary(what: "token", id: 9999, vocabularySize: 512)) {
            try model.forward(tokens: [9999], targets: nil, attentionMask: nil, positionIDs: nil, batchSize: 1, sequenceLength: 1, forBackward: false)
        }
        var options = SamplingOptions()
        options.topP = 0
        #expect(throws: SamplingError.invalidOption(name: "top-p", rule: "must be in (0, 1]")) { try model.sample(prompts: [[1]], options: options) }
        options.topP = 1
        options.maximumNewTokens = 64
        #expect(throws: SamplingError.promptTooLong(index: 0, tokens: 1, newTokens: 64, contextLength: 64)) { try model.sample(prompts: [[1]], options: options) }
        do {
            _ = try GGUFFile(path: "/nonexistent/model.gguf")
            Issue.record("a missing file was read")
        } catch let error as CheckpointError {
            #expect(error.kind == .unreadable)
        }
    }

    /// A model without a chat template cannot turn a conversation into its prompt: refused, not
    /// guessed at by joining the turns.
    @Test func aModelWithoutAChatTemplateIsRefused() throws {
        let tokenizer = try BytePairTrainer.train(corpus: "a small corpus for a small tokenizer", vocabularySize: 300)
        var configuration = LlamaConfiguration()
        (configuration.vocabularySize, configuration.contextLength, configuration.width, configuration.intermediateSize) = (tokenizer.vocabularySize, 32, 16, 32)
        (configuration.layerCount, configuration.headCount, configuration.keyValueHeadCount, configuration.headSize) = (1, 2, 1, 8)
        let model = try LlamaModel(configuration: configuration)
        let bare = PretrainedLlama(model: model, tokenizer: tokenizer, chatTemplate: nil, stopTokens: [])
        #expect(throws: ChatTemplate.missing) { try bare.promptTokens([.init(role: "user", content: "Hi")]) }
        let withTemplate = PretrainedLlama(model: model, tokenizer: tokenizer, chatTemplate: .chatML(defaultSystemPrompt: nil), stopTokens: [])
        #expect(throws: CheckpointError.self) { try withTemplate.promptTokens([.init(role: "user", content: "Hi")]) }
    }
}
