import Foundation
import Testing
@testable import TransformerCore

/// Hugging Face folders laid out as the families users bring ship them: Llama 3.2's (Llama 3's
/// tokenizer and chat template, RoPE scaling, a list of end tokens in generation_config.json)
/// and TinyLlama's (SentencePiece's BPE with byte fallback, Zephyr's template, `</s>`), with
/// tiny random weights. Each loads as a policy to sample from, with the template and the end
/// tokens the folder names.
@Suite("Pretrained Hugging Face folders", .enabled(if: FileManager.default.isExecutableFile(atPath: tokenizerToolPython),
                                                  "needs the test tools' Python environment; `make test` creates .build-python/test"))
struct PretrainedFolderTests {
    /// A folder of `style` (make_tokenizer_json.py's) holding a tiny model of its vocabulary,
    /// the family's chat template and `extraFiles`.
    static func folder(style: String, scaling: RotaryScaling?, extraFiles: [String: String]) throws -> String {
        let (folder, expected) = try HuggingFaceTokenizerTests.makeTokenizerJSON(style: style, folderPrefix: "tally-pretrained-\(style)-")
        let tokenizer = try BytePairTokenizer(huggingFaceTokenizerPath: folder + "/tokenizer.json")
        var configuration = LlamaConfiguration()
        (configuration.vocabularySize, configuration.contextLength, configuration.width, configuration.intermediateSize) = (tokenizer.vocabularySize, 256, 32, 64)
        (configuration.layerCount, configuration.headCount, configuration.keyValueHeadCount, configuration.headSize) = (2, 4, 2, 8)
        configuration.rotaryScaling = scaling
        let model = try LlamaModel(configuration: configuration)
        model.initializeParameters(seed: 3)
        try LlamaCheckpoint.save(model, to: folder)
        let tokenizerConfig = try JSONSerialization.data(withJSONObject: ["tokenizer_class": "PreTrainedTokenizerFast", "chat_template": expected["template"] as! String])
        try tokenizerConfig.write(to: URL(fileURLWithPath: folder + "/tokenizer_config.json"))
        for (name, text) in extraFiles { try text.write(toFile: folder + "/" + name, atomically: true, encoding: .utf8) }
        return folder
    }

    @Test func llama3FolderLoadsWithItsTemplateScalingAndEndTokens() throws {
        let scaling = RotaryScaling.llama3(factor: 32, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContextLength: 8192)
        // Llama 3.2 names three end tokens; this vocabulary has one of them (<|eot_id|>, 50261).
        let folder = try Self.folder(style: "llama3", scaling: scaling, extraFiles: ["generation_config.json": #"{"bos_token_id": 50258, "eos_token_id": [50256, 50261]}"#])
        let policy = try LlamaCheckpoint.loadPretrained(folder)
        #expect(policy.model.configuration.rotaryScaling == scaling)
        #expect(policy.tokenizer.preTokenization == .llama3 && policy.tokenizer.ignoresMerges)
        #expect(policy.chatTemplate == ChatTemplate(format: .llama3(datePreamble: true)))
        #expect(policy.stopTokens == [50256, 50261])
        let prompt = try #require(policy.chatTemplate).tokens([.init(role: "user", content: "Name a colour.")], tokenizer: policy.tokenizer)
        #expect(prompt.first == policy.tokenizer.specialTokens["<|begin_of_text|>"])
        var options = SamplingOptions()
        (options.maximumNewTokens, options.stopTokens, options.seed) = (6, policy.stopTokens, 1)
        let answer = try policy.model.sample(prompts: [prompt], options: options)[0]
        #expect(!answer.tokens.isEmpty && answer.tokens.count <= 6)
    }

    @Test func tinyLlamaFolderLoadsWithZephyrsTemplateAndEndToken() throws {
        let folder = try Self.folder(style: "sentencepiece", scaling: nil, extraFiles: [:])
        // TinyLlama's config.json names </s> (2) as its end token.
        let configPath = folder + "/config.json"
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath))) as! [String: Any]
        (config["bos_token_id"], config["eos_token_id"]) = (1, 2)
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
        let policy = try LlamaCheckpoint.loadPretrained(folder)
        #expect(policy.tokenizer.alphabet == .charactersWithByteFallback)
        #expect(policy.chatTemplate == ChatTemplate(format: .zephyr) && policy.stopTokens == [2])
        let prompt = try #require(policy.chatTemplate).tokens([.init(role: "user", content: "Name a colour, 中文 too.")], tokenizer: policy.tokenizer)
        #expect(policy.tokenizer.decode(prompt) == "<|user|>\nName a colour, 中文 too.</s> \n<|assistant|>\n")
        var options = SamplingOptions()
        (options.maximumNewTokens, options.stopTokens, options.seed) = (6, policy.stopTokens, 1)
        let answer = try policy.model.sample(prompts: [prompt], options: options)[0]
        #expect(!answer.tokens.isEmpty && answer.tokens.count <= 6)
    }

    @Test func foldersWithoutWhatSamplingNeedsAreRefusedByName() throws {
        let folder = try Self.folder(style: "sentencepiece", scaling: nil, extraFiles: ["tokenizer_config.json": "{}"])
        // No end token named anywhere (no eos in config.json, no template): answers could not end.
        #expect { try LlamaCheckpoint.loadPretrained(folder) } throws: { "\($0)".contains("no end-of-text token") }
        try #"{"eos_token": "</s>"}"#.write(toFile: folder + "/tokenizer_config.json", atomically: true, encoding: .utf8)
        #expect(try LlamaCheckpoint.loadPretrained(folder).stopTokens == [2])
        try FileManager.default.removeItem(atPath: folder + "/tokenizer.json")
        #expect { try LlamaCheckpoint.loadPretrained(folder) } throws: { "\($0)".contains("no tokenizer.json") }
        #expect { try LlamaCheckpoint.loadPretrained(folder + "/absent") } throws: { "\($0)".contains("no such file or folder") }
        // A RoPE scaling Tally does not compute is named, not ignored.
        let configPath = folder + "/config.json"
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath))) as! [String: Any]
        config["rope_scaling"] = ["rope_type": "yarn", "factor": 4.0]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
        #expect { try LlamaCheckpoint.load(from: folder) } throws: { "\($0)".contains("rope_type 'yarn'") }
    }
}
