import TransformerCore

/// A demonstration as token ids: the rendered prompt, then the answer and the end-of-turn
/// token, which the policy learns to write (the loss covers `responseStart...` only).
public struct EncodedDemonstration: Sendable {
    public let tokens: [Int32]
    public let responseStart: Int
    public let wasTruncated: Bool
    public let source: SourceLine
}

/// A ranking as token ids: the rendered prompt (ending with the assistant's header), and each
/// answer followed by the end-of-turn token, whose final hidden state the score is read from.
public struct EncodedRanking: Sendable {
    public let prompt: [Int32]
    public let answers: [[Int32]]
    public let ranks: [Int]
    /// Each answer's length in characters (the "longer answer wins" baseline's measure).
    public let answerCharacterCounts: [Int]
    public let labelerGroup: String?
    public let wasTruncated: Bool
    public let source: SourceLine

    /// The ordered pairs (winner, loser) of answer indices; tied answers make no pair.
    public var preferences: [(winner: Int, loser: Int)] { RankingExample.preferences(ranks: ranks) }
    public var tokenCount: Int { prompt.count + answers.reduce(0) { $0 + $1.count } }
    /// The longest row of the ranking without sharing the prompt: the prompt and its longest answer.
    public var longestUnsharedRow: Int { prompt.count + (answers.map(\.count).max() ?? 0) }
    /// What the same ranking costs without sharing the prompt: K copies of it.
    public var unsharedTokenCount: Int { answers.reduce(0) { $0 + prompt.count + $1.count } }
}

/// Renders examples with the model's chat template and cuts them to a maximum length. A cut
/// keeps the end of the conversation (the turns nearest the answer) and the answer itself; an
/// answer longer than the whole budget keeps its start and its end-of-turn token.
public struct ExampleEncoder {
    public let model: PretrainedModel
    public let endOfTurn: Int32
    /// The longest prompt-and-answer sequence, in tokens.
    public let maximumLength: Int

    public init(model: PretrainedModel, maximumLength: Int) throws {
        guard maximumLength >= 8 else { throw TrainingOptionError("--max-length", "must be at least 8 tokens, got \(maximumLength)") }
        guard maximumLength <= model.model.contextLength else {
            throw TrainingOptionError("--max-length", "\(maximumLength) exceeds the model's context length of \(model.model.contextLength)")
        }
        self.model = model
        endOfTurn = try model.endOfTurnToken()
        self.maximumLength = maximumLength
    }

    public func encode(_ example: SupervisedExample) throws -> EncodedDemonstration {
        var prompt = try model.promptTokens(example.prompt)
        var response = model.tokenizer.encode(example.response) + [endOfTurn]
        let truncated = prompt.count + response.count > maximumLength
        if truncated { cut(prompt: &prompt, answerLength: &response) }
        return EncodedDemonstration(tokens: prompt + response, responseStart: prompt.count, wasTruncated: truncated, source: example.source)
    }

    public func encode(_ example: RankingExample) throws -> EncodedRanking {
        var prompt = try model.promptTokens(example.prompt)
        var answers = example.answers.map { model.tokenizer.encode($0) + [endOfTurn] }
        let longest = answers.map(\.count).max() ?? 0
        let truncated = prompt.count + longest > maximumLength
        if truncated {
            var longestAnswer = [Int32](repeating: 0, count: longest)
            cut(prompt: &prompt, answerLength: &longestAnswer)
            let budget = maximumLength - prompt.count
            answers = answers.map { $0.count <= budget ? $0 : Array($0.prefix(budget - 1)) + [endOfTurn] }
        }
        return EncodedRanking(prompt: prompt, answers: answers, ranks: example.ranks, answerCharacterCounts: example.answers.map(\.count),
                              labelerGroup: example.labelerGroup, wasTruncated: truncated, source: example.source)
    }

    /// Drops the prompt's first tokens until prompt and answer fit; an answer that alone does
    /// not fit (with one prompt token) keeps its start and its last token.
    private func cut(prompt: inout [Int32], answerLength answer: inout [Int32]) {
        if answer.count > maximumLength - 1 {
            answer = Array(answer.prefix(maximumLength - 2)) + [answer.last!]
        }
        prompt = Array(prompt.suffix(maximumLength - answer.count))
    }
}

/// A command-line or configuration setting out of its range, named as the user wrote it.
public struct TrainingOptionError: Error, CustomStringConvertible, Sendable, Equatable {
    public let option: String
    public let message: String
    public init(_ option: String, _ message: String) { (self.option, self.message) = (option, message) }
    public var description: String { "\(option): \(message)" }
}
