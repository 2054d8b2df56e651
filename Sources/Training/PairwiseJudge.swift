import Foundation
import TransformerCore

/// A policy judging two answers by a written rubric (RLAIF's AI feedback, as Constitutional AI
/// and Lee et al. 2023 ask a model): the rubric, the conversation and both answers in one user
/// message that asks for the letter of the better one, and the judgment read from the model's
/// next-token probabilities of "A" and "B" rather than from a sampled reply, so it is a number
/// and never unparsable. Each pair is asked in both orders and the two averaged, which cancels
/// the judge's preference for a position.
public struct PairwiseJudge {
    public let rubric: String
    /// The probability the judge gives to "A" against "B" as the reply to one question: a
    /// policy's next-token probabilities here, a served model's log-probabilities elsewhere.
    private let probabilityOfA: (_ question: [ChatTemplate.Message]) throws -> Double

    /// InstructGPT's criteria, for a project that wrote no guidelines.
    public static let defaultRubric = "Prefer the answer that is more helpful, honest and harmless: it does what was asked, states nothing false, and avoids harm."

    /// One of Tally's own policies as the judge.
    public init(model: PretrainedModel, rubric: String) throws {
        guard model.chatTemplate != nil else { throw TrainingOptionError("--model", "a judge needs a chat template to be asked in") }
        let a = model.tokenizer.encode("A"), b = model.tokenizer.encode("B")
        guard a.count == 1, b.count == 1, a != b else { throw TrainingOptionError("--model", "the judge's tokenizer does not spell A and B as one token each") }
        let letters = (a: a[0], b: b[0])
        self.init(rubric: rubric) { messages in try Self.probabilityOfA(messages, model: model, letters: letters) }
    }

    /// Any judge that answers a question with the probability of "A".
    public init(rubric: String, probabilityOfA: @escaping (_ question: [ChatTemplate.Message]) throws -> Double) {
        (self.rubric, self.probabilityOfA) = (rubric, probabilityOfA)
    }

    /// The question for one order of the pair.
    public func question(prompt: [ChatTemplate.Message], first: String, second: String) -> [ChatTemplate.Message] {
        let conversation = prompt.map { "\($0.role == "user" ? "User" : $0.role == "assistant" ? "Assistant" : $0.role.capitalized): \($0.content)" }.joined(separator: "\n")
        return [ChatTemplate.Message(role: "user", content: """
            Guidelines for judging answers: \(rubric)

            Conversation:
            \(conversation)

            Answer A:
            \(first)

            Answer B:
            \(second)

            Which answer is better by the guidelines? Reply with the single letter A or B.
            """)]
    }

    /// The probability the judge gives to `first` being the better answer, averaged over both orders.
    public func preference(prompt: [ChatTemplate.Message], first: String, second: String) throws -> Double {
        let asked = try probabilityOfA(question(prompt: prompt, first: first, second: second))
        let swapped = try probabilityOfA(question(prompt: prompt, first: second, second: first))
        return (asked + (1 - swapped)) / 2
    }

    /// P(A) against P(B) at the reply's first token: softmax over the two letters' logits.
    private static func probabilityOfA(_ messages: [ChatTemplate.Message], model: PretrainedModel, letters: (a: Int32, b: Int32)) throws -> Double {
        var tokens = try model.promptTokens(messages)
        let context = model.model.contextLength
        // A conversation longer than the judge reads keeps its end, where the question is.
        if tokens.count > context { tokens = Array(tokens.suffix(context)) }
        try model.model.forward(tokens: tokens, targets: nil, attentionMask: nil, positionIDs: nil, batchSize: 1, sequenceLength: tokens.count,
                                forBackward: false, logits: .every)
        let vocabulary = model.model.vocabularySize, last = (tokens.count - 1) * vocabulary
        let logits = model.model.logits
        let difference = Double(logits[last + Int(letters.a)]) - Double(logits[last + Int(letters.b)])
        return 1 / (1 + exp(-difference))
    }

    /// Each answer's expected wins against the others (the sum of its pairwise preferences):
    /// what a ranking of more than two answers is ordered by.
    public func expectedWins(prompt: [ChatTemplate.Message], answers: [String]) throws -> [Double] {
        var wins = [Double](repeating: 0, count: answers.count)
        for i in answers.indices {
            for j in answers.indices where j > i {
                let p = try preference(prompt: prompt, first: answers[i], second: answers[j])
                wins[i] += p
                wins[j] += 1 - p
            }
        }
        return wins
    }
}
