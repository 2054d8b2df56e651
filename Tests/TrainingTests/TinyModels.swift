import Foundation
@testable import Training
import TransformerCore

/// Tiny models of both variants with a ChatML tokenizer trained on a small corpus: what the
/// training tests learn on in seconds.
enum TinyModels {
    static let corpus = String(repeating: """
        the cat sat on the mat. a dog ran to the park and back. bananas are yellow and apples are red. \
        say something nice about the weather today. it is sunny and warm, the sky is blue. \
        name a fruit. an apple, a pear, a banana or a plum. tell me a story about a small fox in the woods.
        """, count: 8)
    static let specialTokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

    static func tokenizer() throws -> BytePairTokenizer {
        try BytePairTrainer.train(corpus: corpus, vocabularySize: 320, specialTokens: specialTokens)
    }

    static func llama(seed: UInt64, contextLength: Int = 512, layerCount: Int = 2) throws -> PretrainedModel {
        let tokenizer = try tokenizer()
        var configuration = LlamaConfiguration()
        (configuration.vocabularySize, configuration.contextLength, configuration.width, configuration.intermediateSize) = (tokenizer.vocabularySize, contextLength, 32, 64)
        (configuration.layerCount, configuration.headCount, configuration.keyValueHeadCount, configuration.headSize) = (layerCount, 4, 2, 8)
        configuration.tiedOutputHead = true
        let model = try LlamaModel(configuration: configuration)
        model.initializeParameters(seed: seed)
        return PretrainedModel(model: model, tokenizer: tokenizer, chatTemplate: .chatML(defaultSystemPrompt: nil), stopTokens: [tokenizer.specialTokens["<|im_end|>"]!])
    }

    static func gpt2(seed: UInt64, contextLength: Int = 512, tokenizer: BytePairTokenizer? = nil) throws -> PretrainedModel {
        let tokenizer = try tokenizer ?? self.tokenizer()
        let model = try GPT2Model(configuration: GPT2Configuration(vocabularySize: tokenizer.vocabularySize, contextLength: contextLength, width: 32, layerCount: 2, headCount: 4))
        model.initializeParameters(seed: seed)
        return PretrainedModel(model: model, tokenizer: tokenizer, chatTemplate: .chatML(defaultSystemPrompt: nil), stopTokens: [tokenizer.specialTokens["<|im_end|>"]!])
    }

    static func source(_ line: Int = 1) -> SourceLine { SourceLine(file: "test.jsonl", line: line) }

    static func user(_ text: String) -> [ChatTemplate.Message] { [ChatTemplate.Message(role: "user", content: text)] }
}
