import Foundation
import TallyTestSupport
import Testing
@testable import TransformerCore

/// The real vocabularies of Llama 3 (byte-level BPE, 128,256 tokens) and Llama 2 (SentencePiece's
/// BPE with byte fallback, 32,000 tokens; TinyLlama's too), as llama.cpp keeps them for its own
/// tokenizer tests: vocabulary-only GGUF files with input texts and the ids Hugging Face's
/// tokenizers gave for them. `make llama-vocabularies` fetches them once (from the PyPI
/// package llama-cpp-python 0.3.9, checked against its sha256; `make test` does it).
enum LlamaVocabularyFiles {
    static let folder: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build-models/llama-vocabularies").path
    }()

    static var available: Bool { FileManager.default.fileExists(atPath: folder + "/ggml-vocab-llama-spm.gguf.out") }

    /// The test texts of `name` and their ids (no beginning-of-text token).
    static func cases(_ name: String) throws -> [(text: String, ids: [Int32])] {
        let inputs = try String(contentsOfFile: folder + "/\(name).gguf.inp", encoding: .utf8).components(separatedBy: "\n__ggml_vocab_test__\n")
        let outputs = try String(contentsOfFile: folder + "/\(name).gguf.out", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        // The input file ends with a separator after the last text.
        let texts = inputs.last == "" ? Array(inputs.dropLast()) : inputs
        return texts.enumerated().map { index, text in
            (text, outputs[index].split(separator: " ").map { Int32($0)! })
        }
    }
}

@Suite("Real Llama vocabularies", .enabled(if: LlamaVocabularyFiles.available, "needs llama.cpp's vocabulary files: `make llama-vocabularies` fetches them (`make test` does)"))
struct RealVocabularyTests {
    @Test(arguments: ["ggml-vocab-llama-bpe", "ggml-vocab-llama-spm"])
    func encodesEveryTestTextAsHuggingFaceDid(name: String) throws {
        let file = try GGUFFile(path: LlamaVocabularyFiles.folder + "/\(name).gguf")
        let tokenizer = try BytePairTokenizer(gguf: file)
        let cases = try LlamaVocabularyFiles.cases(name)
        #expect(cases.count > 40)
        for (text, ids) in cases {
            #expect(tokenizer.encode(text) == ids, "\(text.debugDescription)")
            // Decoding gives the text back, but for SentencePiece's one "▁" in front, which a
            // text that starts with a space keeps (Hugging Face's decoder strips only one).
            #expect(tokenizer.decode(ids) == text, "\(text.debugDescription)")
        }
    }

    /// Saved by Tally as tokenizer.json with the family's chat template, each real vocabulary
    /// encodes the test texts and a conversation in Hugging Face's code exactly as in Tally.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: tokenizerToolPython), "needs the test tools' Python environment"),
          arguments: [("ggml-vocab-llama-bpe", ChatTemplate(format: .llama3(datePreamble: true))), ("ggml-vocab-llama-spm", ChatTemplate(format: .zephyr))])
    func savedAsTokenizerJSONItEncodesTheSameInHuggingFaceCode(name: String, template: ChatTemplate) throws {
        let tokenizer = try BytePairTokenizer(gguf: GGUFFile(path: LlamaVocabularyFiles.folder + "/\(name).gguf"))
        let saved = TemporaryFiles.path("tally-real-vocabulary")
        defer { try? FileManager.default.removeItem(atPath: saved) }
        try LlamaCheckpoint.saveTokenizer(tokenizer, chatTemplate: template, stopToken: template.endOfTurnMarker, to: saved)
        let texts = try LlamaVocabularyFiles.cases(name).map(\.text)
        let messages = [ChatTemplate.Message(role: "system", content: "Answer briefly."), .init(role: "user", content: "What is 12 + 30? Say it in Führer-free German.")]
        let expected: [String: Any] = [
            "texts": texts, "ids": texts.map { tokenizer.encode($0).map(Int.init) },
            "messages": messages.map { ["role": $0.role, "content": $0.content] }, "chat_ids": try template.tokens(messages, tokenizer: tokenizer).map(Int.init),
        ]
        try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: saved + "/expected.json"))
        let check = try HuggingFaceTokenizerTests.runTool([HuggingFaceTokenizerTests.tools + "/check_saved_tokenizer.py", saved])
        #expect(check.status == 0 && check.output.contains("OK:"), "\(check.output)")
    }

    @Test func llama3VocabularyHasItsSpecialTokensAndRule() throws {
        let tokenizer = try BytePairTokenizer(gguf: GGUFFile(path: LlamaVocabularyFiles.folder + "/ggml-vocab-llama-bpe.gguf"))
        #expect(tokenizer.vocabularySize == 128_256 && tokenizer.preTokenization == .llama3 && tokenizer.ignoresMerges)
        #expect(tokenizer.specialTokens["<|begin_of_text|>"] == 128_000 && tokenizer.specialTokens["<|eot_id|>"] == 128_009)
        let template = ChatTemplate(format: .llama3(datePreamble: true))
        let ids = try template.tokens([.init(role: "user", content: "Hi")], tokenizer: tokenizer)
        #expect(tokenizer.decode(ids) == template.render([.init(role: "user", content: "Hi")]))
    }

    @Test func llama2VocabularyFallsBackToBytes() throws {
        let tokenizer = try BytePairTokenizer(gguf: GGUFFile(path: LlamaVocabularyFiles.folder + "/ggml-vocab-llama-spm.gguf"))
        #expect(tokenizer.vocabularySize == 32_000 && tokenizer.alphabet == .charactersWithByteFallback)
        #expect(tokenizer.specialTokens["</s>"] == 2)
        // A character the vocabulary lacks becomes its UTF-8 bytes' tokens (<0xF0> is 3 + 0xF0).
        let ids = tokenizer.encode("🦙")
        let byteTokens: [Int32] = [0xF0, 0x9F, 0xA6, 0x99].map { $0 + 3 }
        #expect(Array(ids.suffix(4)) == byteTokens)
        #expect(tokenizer.decode(ids) == "🦙")
    }
}
