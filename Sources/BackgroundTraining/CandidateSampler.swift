import Foundation
import TransformerCore

/// New candidates for prompts waiting for rankings: answers sampled from a policy, with exact
/// and near duplicates (ROUGE-L 0.7 or more against another answer to the same prompt, kept or
/// new) dropped, and each prompt filled to at most the project's ranking size.
struct CandidateSampler {
    let policy: PretrainedModel
    let sampling: CandidateSampling
    let rankingSize: Int
    static let nearDuplicate = 0.7

    struct Prompt {
        let id: Int
        let messages: [ChatTemplate.Message]
        let existingAnswers: [String]
    }

    /// How many answers `prompt` is sampled: as asked, or what fills its ranking.
    func wanted(_ prompt: Prompt) -> Int {
        min(sampling.answersPerPrompt ?? rankingSize, rankingSize - prompt.existingAnswers.count)
    }

    /// The answers kept for each of `prompts` (a batch of them sampled together), in order.
    func sample(_ prompts: [Prompt], seed: UInt64) throws -> [[String]] {
        var rows: [[Int32]] = [], owners: [Int] = []
        for (index, prompt) in prompts.enumerated() {
            let tokens = Array(try policy.promptTokens(prompt.messages).suffix(max(1, policy.model.contextLength - sampling.maximumNewTokens)))
            for _ in 0..<max(0, wanted(prompt)) {
                rows.append(tokens)
                owners.append(index)
            }
        }
        guard !rows.isEmpty else { return prompts.map { _ in [] } }
        var options = SamplingOptions()
        (options.temperature, options.topP, options.maximumNewTokens, options.stopTokens, options.seed) =
            (sampling.temperature, sampling.topP, min(sampling.maximumNewTokens, policy.model.contextLength - 1), policy.stopTokens, seed)
        let sequences = try policy.model.sample(prompts: rows, options: options)
        var kept = prompts.map { _ in [String]() }
        var seen = prompts.map { $0.existingAnswers.map(RougeL.words) }
        for (sequence, owner) in zip(sequences, owners) {
            let tokens = sequence.stopped ? Array(sequence.tokens.dropLast()) : sequence.tokens
            let text = policy.tokenizer.decode(tokens).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { continue }
            let words = RougeL.words(text)
            guard !seen[owner].contains(where: { RougeL.score($0, words) >= Self.nearDuplicate }) else { continue }
            seen[owner].append(words)
            kept[owner].append(text)
        }
        return kept
    }
}
