import Foundation
import TransformerCore

/// New candidates for prompts waiting for rankings: answers from a policy or an endpoint, with
/// exact and near duplicates (ROUGE-L 0.7 or more against another answer to the same prompt,
/// kept or new) dropped, and each prompt filled to at most the project's ranking size. With a
/// reward model (best-of-n), `bestOf` answers are sampled for each one wanted and the reward
/// model's favourites kept.
struct CandidateSampler {
    /// One answer for each of a batch of chat prompts, in order: a policy's sampled together,
    /// or an endpoint's asked for.
    let answer: (_ rows: [[ChatTemplate.Message]], _ seed: UInt64) throws -> [Answer]
    let sampling: CandidateSampling
    let rankingSize: Int
    /// Answers sampled for each one kept, and the rewards that choose them.
    var bestOf = 1
    var rewards: ((_ prompt: [ChatTemplate.Message], _ answers: [String]) throws -> [Float])?
    static let nearDuplicate = 0.7

    struct Prompt {
        let id: Int
        let messages: [ChatTemplate.Message]
        let existingAnswers: [String]
    }

    struct Answer: Equatable {
        var text: String
        /// The model an endpoint says answered (its exact version, for a hosted API); nil for
        /// Tally's own policy.
        var servedModel: String?
    }

    /// Answers from one of Tally's own policies.
    init(policy: PretrainedModel, sampling: CandidateSampling, rankingSize: Int) {
        self.init(answer: { rows, seed in try PolicyAnswers(policy: policy, sampling: sampling).sample(rows, seed: seed).map { Answer(text: $0.text) } },
                  sampling: sampling, rankingSize: rankingSize)
    }

    init(answer: @escaping (_ rows: [[ChatTemplate.Message]], _ seed: UInt64) throws -> [Answer], sampling: CandidateSampling, rankingSize: Int) {
        (self.answer, self.sampling, self.rankingSize) = (answer, sampling, rankingSize)
    }

    /// How many answers `prompt` is sampled: as asked, or what fills its ranking.
    func wanted(_ prompt: Prompt) -> Int {
        min(sampling.answersPerPrompt ?? rankingSize, rankingSize - prompt.existingAnswers.count)
    }

    /// The answers kept for each of `prompts` (a batch of them sampled together), in order.
    func sample(_ prompts: [Prompt], seed: UInt64) throws -> [[Answer]] {
        var rows: [[ChatTemplate.Message]] = [], owners: [Int] = []
        for (index, prompt) in prompts.enumerated() {
            for _ in 0..<(max(0, wanted(prompt)) * max(1, bestOf)) {
                rows.append(prompt.messages)
                owners.append(index)
            }
        }
        var answers = rows.isEmpty ? [] : try answer(rows, seed)
        var owned = owners
        if let rewards {
            // Each prompt's answers best first by the reward model, so the favourites are kept.
            var ordered: [(answer: Answer, owner: Int)] = []
            for (index, prompt) in prompts.enumerated() {
                let mine = zip(answers, owners).filter { $0.1 == index }.map(\.0)
                guard !mine.isEmpty else { continue }
                let scores = try rewards(prompt.messages, mine.map(\.text))
                ordered += zip(mine, scores).sorted { $0.1 > $1.1 }.map { ($0.0, index) }
            }
            (answers, owned) = (ordered.map(\.answer), ordered.map(\.owner))
        }
        var kept = prompts.map { _ in [Answer]() }
        var seen = prompts.map { $0.existingAnswers.map(RougeL.words) }
        for (answer, owner) in zip(answers, owned) {
            guard !answer.text.isEmpty, kept[owner].count < max(0, wanted(prompts[owner])) else { continue }
            let words = RougeL.words(answer.text)
            guard !seen[owner].contains(where: { RougeL.score($0, words) >= Self.nearDuplicate }) else { continue }
            seen[owner].append(words)
            kept[owner].append(answer)
        }
        return kept
    }
}

/// One answer from a policy to each of a batch of chat prompts, decoded together: the text with
/// the end token cut and the whitespace around it trimmed, and whether the answer ended (rather
/// than running into the length limit).
struct PolicyAnswers {
    let policy: PretrainedModel
    let sampling: CandidateSampling

    func sample(_ prompts: [[ChatTemplate.Message]], seed: UInt64) throws -> [(text: String, ended: Bool)] {
        guard !prompts.isEmpty else { return [] }
        // The prompt's end is kept when it is too long: the answer follows it.
        let rows = try prompts.map { Array(try policy.promptTokens($0).suffix(max(1, policy.model.contextLength - sampling.maximumNewTokens))) }
        var options = SamplingOptions()
        (options.temperature, options.topP, options.maximumNewTokens, options.stopTokens, options.seed) =
            (sampling.temperature, sampling.topP, min(sampling.maximumNewTokens, policy.model.contextLength - 1), policy.stopTokens, seed)
        return try policy.model.sample(prompts: rows, options: options).map { sequence in
            let tokens = sequence.stopped ? Array(sequence.tokens.dropLast()) : sequence.tokens
            return (policy.tokenizer.decode(tokens).trimmingCharacters(in: .whitespacesAndNewlines), sequence.stopped)
        }
    }
}
