import TransformerCore

/// Where a training example came from, for errors and reports: a file and a line (from 1).
public struct SourceLine: Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public init(file: String, line: Int) { (self.file, self.line) = (file, line) }
    public var description: String { "\(file):\(line)" }
}

/// A demonstration: a prompt (the conversation so far) and the assistant's answer to it, which
/// supervised fine-tuning teaches the policy to write.
public struct SupervisedExample: Sendable, Equatable {
    public var prompt: [ChatTemplate.Message]
    public var response: String
    /// True when the record says it belongs to a validation or test split.
    public var isHeldOut: Bool
    public var source: SourceLine

    public init(prompt: [ChatTemplate.Message], response: String, isHeldOut: Bool = false, source: SourceLine) {
        (self.prompt, self.response, self.isHeldOut, self.source) = (prompt, response, isHeldOut, source)
    }
}

/// A prompt the policy answers during policy optimization (PPO, RLOO): the conversation so far.
public struct PromptExample: Sendable, Equatable {
    public var prompt: [ChatTemplate.Message]
    /// True when the record says it belongs to a validation or test split.
    public var isHeldOut: Bool
    public var source: SourceLine

    public init(prompt: [ChatTemplate.Message], isHeldOut: Bool = false, source: SourceLine) {
        (self.prompt, self.isHeldOut, self.source) = (prompt, isHeldOut, source)
    }
}

/// A ranking of K answers to one prompt (InstructGPT's unit of reward-model training): rank 1
/// is best, equal ranks tie. A preference pair is the K = 2 case.
public struct RankingExample: Sendable, Equatable {
    public var prompt: [ChatTemplate.Message]
    public var answers: [String]
    public var ranks: [Int]
    /// The labeler's group (`training` or `held_out`) where the export names it.
    public var labelerGroup: String?
    public var isHeldOut: Bool
    public var source: SourceLine

    public init(prompt: [ChatTemplate.Message], answers: [String], ranks: [Int], labelerGroup: String? = nil, isHeldOut: Bool = false, source: SourceLine) {
        (self.prompt, self.answers, self.ranks, self.labelerGroup, self.isHeldOut, self.source) = (prompt, answers, ranks, labelerGroup, isHeldOut, source)
    }

    /// The ordered pairs (winner, loser) of answer indices; tied answers make no pair.
    public var preferences: [(winner: Int, loser: Int)] { Self.preferences(ranks: ranks) }

    public static func preferences(ranks: [Int]) -> [(winner: Int, loser: Int)] {
        var pairs: [(winner: Int, loser: Int)] = []
        for i in ranks.indices {
            for j in ranks.indices where ranks[i] < ranks[j] { pairs.append((i, j)) }
        }
        return pairs
    }
}
