import Foundation
import JSON

/// A model of either variant with what training, sampling and scoring need beside it: its
/// tokenizer, chat template and end tokens. Loaded from a GGUF file (Llama family) or a Hugging
/// Face folder whose config.json names `llama` or `gpt2`; saved as a Hugging Face folder.
public struct PretrainedModel {
    public let model: any LanguageModel
    public let tokenizer: BytePairTokenizer
    public let chatTemplate: ChatTemplate?
    /// Tokens that end an answer.
    public let stopTokens: Set<Int32>

    public init(model: any LanguageModel, tokenizer: BytePairTokenizer, chatTemplate: ChatTemplate?, stopTokens: Set<Int32>) {
        (self.model, self.tokenizer, self.chatTemplate, self.stopTokens) = (model, tokenizer, chatTemplate, stopTokens)
    }

    public init(_ llama: PretrainedLlama) {
        self.init(model: llama.model, tokenizer: llama.tokenizer, chatTemplate: llama.chatTemplate, stopTokens: llama.stopTokens)
    }

    /// A GGUF file or a Hugging Face folder, either variant.
    public static func load(_ path: String) throws -> PretrainedModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError("\(path): no such file or folder (expected a GGUF file or a Hugging Face model folder)", kind: .unreadable)
        }
        guard isDirectory.boolValue, try modelType(of: path) == "gpt2" else { return PretrainedModel(try LlamaCheckpoint.loadPretrained(path)) }
        let model = try GPT2Checkpoint.load(from: path)
        let tokenizerPath = path + "/tokenizer.json"
        guard FileManager.default.fileExists(atPath: tokenizerPath) else { throw CheckpointError("\(path): the folder has no tokenizer.json", kind: .unreadable) }
        let tokenizer = try BytePairTokenizer(huggingFaceTokenizerPath: tokenizerPath)
        guard tokenizer.vocabularySize <= model.vocabularySize else {
            throw CheckpointError("\(tokenizerPath): the tokenizer has \(tokenizer.vocabularySize) tokens but the model \(model.vocabularySize)", kind: .mismatch)
        }
        let template = try LlamaCheckpoint.chatTemplate(in: path)
        let stops = try LlamaCheckpoint.stopTokens(in: path, tokenizer: tokenizer, chatTemplate: template, vocabularySize: model.vocabularySize)
        return PretrainedModel(model: model, tokenizer: tokenizer, chatTemplate: template, stopTokens: stops)
    }

    /// config.json's `model_type`.
    static func modelType(of directory: String) throws -> String? {
        let path = directory + "/config.json"
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError("\(path): cannot read the configuration", kind: .unreadable) }
        guard case .object(let fields)? = try? JSONParser.parse(Array(data)) else { throw CheckpointError("\(path): not a JSON object") }
        guard case .string(let type)? = fields.first(where: { $0.0 == "model_type" })?.1 else { return nil }
        return type
    }

    /// The tokens of a conversation's prompt, ending where the assistant's answer begins; a
    /// model without a chat template is refused (see `PretrainedLlama.promptTokens`).
    public func promptTokens(_ messages: [ChatTemplate.Message]) throws -> [Int32] {
        guard let chatTemplate else { throw ChatTemplate.missing }
        return try chatTemplate.tokens(messages, tokenizer: tokenizer)
    }

    /// The token that ends an assistant's turn in the chat template.
    public func endOfTurnToken() throws -> Int32 {
        guard let chatTemplate else { throw ChatTemplate.missing }
        guard let id = tokenizer.specialTokens[chatTemplate.endOfTurnMarker] else {
            throw CheckpointError("the tokenizer has no special token \(chatTemplate.endOfTurnMarker), which ends a turn in the chat template", kind: .mismatch)
        }
        return id
    }

    /// A second model with the same configuration, tokenizer and parameters, which trains
    /// apart from this one: the frozen reference of the policy stages, or a value model started
    /// from a reward model's trunk.
    public func copy() throws -> PretrainedModel {
        let twin: any LanguageModel
        switch model {
        case let llama as LlamaModel: twin = try LlamaModel(configuration: llama.configuration)
        case let gpt2 as GPT2Model: twin = try GPT2Model(configuration: gpt2.configuration)
        default: throw CheckpointError("Tally copies GPT-2 and Llama-family models only", kind: .unsupported)
        }
        twin.parameters.pointer.update(from: model.parameters.pointer, count: model.parameterCount)
        return PretrainedModel(model: twin, tokenizer: tokenizer, chatTemplate: chatTemplate, stopTokens: stopTokens)
    }

    /// Saves a Hugging Face folder: weights and config.json (a causal language model, or a
    /// sequence classifier with `scoreHead`), tokenizer.json and tokenizer_config.json with the
    /// chat template, so that Tally and transformers load it alike.
    public func save(to directory: String, scoreHead: ScoreHead? = nil) throws {
        switch model {
        case let llama as LlamaModel: try LlamaCheckpoint.save(llama, to: directory, scoreHead: scoreHead)
        case let gpt2 as GPT2Model: try GPT2Checkpoint.save(gpt2, to: directory, scoreHead: scoreHead)
        default: throw CheckpointError("\(directory): Tally saves GPT-2 and Llama-family models only", kind: .unsupported)
        }
        let endOfTurn = chatTemplate.map(\.endOfTurnMarker).flatMap { tokenizer.specialTokens[$0] != nil ? $0 : nil }
        try LlamaCheckpoint.saveTokenizer(tokenizer, chatTemplate: chatTemplate, stopToken: endOfTurn, to: directory)
    }
}
