/// Why a file (a checkpoint, a GGUF or safetensors file, a tokenizer, a configuration) could not
/// be used, naming the file and what in it is wrong. `kind` says what a caller can do about it.
public struct CheckpointError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Not there, or not readable as a file.
        case unreadable
        /// Read, but not what the format says (truncated, inconsistent, the wrong type of value).
        case malformed
        /// A valid file of a kind or variant Tally does not read (a quantization, a RoPE rule, a
        /// pre-tokenizer): nothing is wrong with the file.
        case unsupported
        /// Valid, but it does not fit what it is used with (a tokenizer that is not the model's,
        /// optimizer state of another model, a checkpoint of the wrong kind).
        case mismatch
    }

    public let kind: Kind
    public let description: String

    public init(_ description: String, kind: Kind = .malformed) {
        self.kind = kind
        self.description = description
    }
}

/// Why a forward or backward pass refused its inputs: sizes, ranges, or a missing earlier pass.
public enum ModelInputError: Error, CustomStringConvertible, Sendable, Equatable {
    /// An input has the wrong number of entries (`what`: tokens, targets, the attention mask, ...).
    case wrongCount(what: String, expected: Int, actual: Int)
    case sequenceTooLong(length: Int, contextLength: Int)
    /// A token or target id is outside the vocabulary.
    case outsideVocabulary(what: String, id: Int32, vocabularySize: Int)
    case positionOutsideContext(position: Int32, contextLength: Int)
    /// Backward (or a loss) needs a forward pass that kept what it needs.
    case needsForwardPass(String)
    case invalidTrainedBlockCount(Int, layerCount: Int)

    public var description: String {
        switch self {
        case .wrongCount(let what, let expected, let actual): "\(what) must have \(expected) entries, got \(actual)"
        case .sequenceTooLong(let length, let contextLength): "the sequence length \(length) exceeds the context length \(contextLength)"
        case .outsideVocabulary(let what, let id, let vocabularySize): "\(what) \(id) is outside the vocabulary of \(vocabularySize)"
        case .positionOutsideContext(let position, let contextLength): "position id \(position) is outside the context length \(contextLength)"
        case .needsForwardPass(let reason): reason
        case .invalidTrainedBlockCount(let count, let layerCount): "the trained block count must be from 1 to the model's \(layerCount) blocks, got \(count)"
        }
    }
}

/// Why sampling refused its options or prompts.
public enum SamplingError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A sampling option out of its range, with the rule it breaks.
    case invalidOption(name: String, rule: String)
    case emptyPrompt(index: Int)
    case promptTooLong(index: Int, tokens: Int, newTokens: Int, contextLength: Int)

    public var description: String {
        switch self {
        case .invalidOption(let name, let rule): "\(name) \(rule)"
        case .emptyPrompt(let index): "prompt \(index) is empty"
        case .promptTooLong(let index, let tokens, let newTokens, let contextLength):
            "prompt \(index) has \(tokens) tokens; with \(newTokens) new ones it exceeds the context length \(contextLength)"
        }
    }
}
