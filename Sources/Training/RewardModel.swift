import Foundation
import TransformerCore

/// A reward model: the shared transformer trunk with a scalar head read at the last token of
/// each answer (the chat template's end of turn), and the shift that makes rewards average 0
/// (InstructGPT normalises its reward model so the demonstrations score 0).
///
/// Saved as a Hugging Face sequence classifier (`ScoreHead`): transformers, TRL and OpenRLHF
/// read the same score at the same token, since padding uses a token other than the end of turn.
public final class RewardModel {
    public let base: PretrainedModel
    /// score = h · w at an answer's last token; the bias stays 0 (Hugging Face's `score` has none).
    public let head: ScalarHead
    public let padToken: Int32
    public private(set) var mean: Float
    public private(set) var standardDeviation: Float

    public var trunk: any LanguageModel { base.model }

    /// A new reward model on a pretrained trunk, its head drawn from the seed.
    public init(base: PretrainedModel, seed: UInt64) throws {
        self.base = base
        let width = base.model.finalHiddenWidth
        head = ScalarHead(width: width)
        // Hugging Face's initializer_range scaled by 1/sqrt(width + 1), as lm-human-preferences initialises its reward head.
        head.initialize(seed: seed, standardDeviation: 1 / Float(width + 1).squareRoot())
        padToken = try Self.padToken(for: base)
        (mean, standardDeviation) = (0, 1)
    }

    /// A reward-model folder (a `*ForSequenceClassification`): Tally's own or one trained elsewhere.
    public init(contentsOf path: String) throws {
        base = try PretrainedModel.load(path)
        let saved = try ScoreHead.load(from: path, width: base.model.finalHiddenWidth)
        head = ScalarHead(width: saved.weights.count)
        for i in 0..<saved.weights.count { head.parameters.pointer[i] = saved.weights.pointer[i] }
        let endOfTurn = try base.endOfTurnToken()
        guard saved.padTokenID != endOfTurn else {
            throw CheckpointError("\(path)/config.json: pad_token_id \(saved.padTokenID) is the end-of-turn token, so transformers would read each score one token early; set it to an unused token such as <|endoftext|>", kind: .malformed)
        }
        guard saved.padTokenID >= 0, Int(saved.padTokenID) < base.model.vocabularySize else {
            throw CheckpointError("\(path)/config.json: pad_token_id \(saved.padTokenID) is outside the vocabulary")
        }
        padToken = saved.padTokenID
        (mean, standardDeviation) = (saved.mean, saved.standardDeviation)
    }

    /// `<|endoftext|>` where it is not the end of turn, else another special token that is not:
    /// the pad a sequence classifier needs, since transformers reads a score at the last token
    /// that is not the pad.
    public static func padToken(for base: PretrainedModel) throws -> Int32 {
        let endOfTurn = try base.endOfTurnToken()
        if let id = base.tokenizer.specialTokens["<|endoftext|>"], id != endOfTurn { return id }
        if let id = base.tokenizer.specialTokens.filter({ $0.value != endOfTurn }).min(by: { $0.value < $1.value })?.value { return id }
        return endOfTurn == 0 ? 1 : 0
    }

    /// The raw scores (before the shift) of every answer of `rankings`, one list per ranking,
    /// from one forward pass; `forBackward` keeps what `backward` needs.
    func scores(of batch: RankingBatch, forBackward: Bool) throws -> [[Float]] {
        try trunk.forward(tokens: batch.tokens, targets: nil, attentionMask: batch.attentionMask, positionIDs: batch.positionIDs,
                          batchSize: batch.rowCount, sequenceLength: batch.rowLength, forBackward: forBackward, logits: .skipped)
        let flat = head.forward(hiddenStates: trunk.finalHiddenStates, positions: batch.scorePositions.flatMap { $0 })
        var offset = 0
        return batch.scorePositions.map { positions in
            defer { offset += positions.count }
            return Array(flat[offset..<(offset + positions.count)])
        }
    }

    /// Accumulates the gradients of the head and the trunk from d loss / d score of each answer.
    func backward(scoreGradients: [[Float]], batch: RankingBatch) throws {
        let hiddenGradient = head.backward(scoreGradients: scoreGradients.flatMap { $0 }, hiddenStates: trunk.finalHiddenStates,
                                           positions: batch.scorePositions.flatMap { $0 })
        try trunk.backward(finalHiddenGradient: hiddenGradient)
    }

    /// The rewards (shifted) of each answer of each ranking.
    public func rewards(of rankings: [EncodedRanking], sharesPrompt: Bool = true) throws -> [[Float]] {
        try rawScores(of: rankings, sharesPrompt: sharesPrompt).map { $0.map(normalized) }
    }

    /// The scores before the shift, in passes of rankings of like length (`StepPlan.passes`).
    func rawScores(of rankings: [EncodedRanking], sharesPrompt: Bool) throws -> [[Float]] {
        var scores = [[Float]](repeating: [], count: rankings.count)
        for pass in StepPlan.passes(Array(rankings.indices), rows: { sharesPrompt ? 1 : rankings[$0].answers.count },
                                    length: { sharesPrompt ? rankings[$0].tokenCount : rankings[$0].longestUnsharedRow }) {
            let members = pass.map { rankings[$0] }
            let batch = RankingBatch(rankings: members, sharesPrompt: sharesPrompt, padToken: padToken)
            try checkFits(batch, rankings: members[...])
            for (index, answerScores) in zip(pass, try self.scores(of: batch, forBackward: false)) { scores[index] = answerScores }
        }
        return scores
    }

    /// The trunk's final hidden state at each answer's score position (what the head reads), one
    /// list per ranking: the features a head trained on a frozen trunk learns from
    /// (`FrozenTrunkPreferenceHead`), in passes of like length as `rawScores`.
    public func answerFeatures(of rankings: [EncodedRanking], sharesPrompt: Bool = true) throws -> [[[Float]]] {
        var features = [[[Float]]](repeating: [], count: rankings.count)
        let width = trunk.finalHiddenWidth
        for pass in StepPlan.passes(Array(rankings.indices), rows: { sharesPrompt ? 1 : rankings[$0].answers.count },
                                    length: { sharesPrompt ? rankings[$0].tokenCount : rankings[$0].longestUnsharedRow }) {
            let members = pass.map { rankings[$0] }
            let batch = RankingBatch(rankings: members, sharesPrompt: sharesPrompt, padToken: padToken)
            try checkFits(batch, rankings: members[...])
            try trunk.forward(tokens: batch.tokens, targets: nil, attentionMask: batch.attentionMask, positionIDs: batch.positionIDs,
                              batchSize: batch.rowCount, sequenceLength: batch.rowLength, forBackward: false, logits: .skipped)
            let hidden = trunk.finalHiddenStates
            for (index, positions) in zip(pass, batch.scorePositions) {
                features[index] = positions.map { Array(hidden[($0 * width)..<(($0 + 1) * width)]) }
            }
        }
        return features
    }

    /// The rewards of answers to prompts, scored together in passes of like length (a remote
    /// reward request's batch). `maximumLength` cuts each as training cut them (the prompt's
    /// start goes first).
    public func rewards(of conversations: [(prompt: [ChatTemplate.Message], answer: String)], maximumLength: Int? = nil) throws -> [Float] {
        let encoder = try ExampleEncoder(model: base, maximumLength: maximumLength ?? trunk.contextLength)
        let rankings = try conversations.enumerated().map { index, conversation in
            try encoder.encode(RankingExample(prompt: conversation.prompt, answers: [conversation.answer], ranks: [1], source: SourceLine(file: "request", line: index + 1)))
        }
        return try rewards(of: rankings).map { $0[0] }
    }

    /// The reward of one answer to one prompt.
    public func reward(prompt: [ChatTemplate.Message], answer: String, maximumLength: Int? = nil) throws -> Float {
        let encoder = try ExampleEncoder(model: base, maximumLength: maximumLength ?? trunk.contextLength)
        let ranking = try encoder.encode(RankingExample(prompt: prompt, answers: [answer], ranks: [1], source: SourceLine(file: "command line", line: 0)))
        return try rewards(of: [ranking])[0][0]
    }

    func normalized(_ score: Float) -> Float { (score - mean) / standardDeviation }

    /// Sets the shift so that `scores` (raw) average 0, InstructGPT's normalisation; the scale stays 1.
    func centre(onRawScores scores: [Float]) {
        guard !scores.isEmpty else { return }
        mean = Float(scores.reduce(0.0) { $0 + Double($1) } / Double(scores.count))
        standardDeviation = 1
    }

    func checkFits(_ batch: RankingBatch, rankings: ArraySlice<EncodedRanking>) throws {
        guard batch.rowLength <= trunk.contextLength else {
            let source = rankings.first { $0.tokenCount > trunk.contextLength }?.source.description ?? "a ranking"
            throw TrainingOptionError("--max-length", "\(source) packs its prompt and answers into \(batch.rowLength) tokens, more than the model's context of \(trunk.contextLength); lower --max-length or pass --no-shared-prompt")
        }
    }

    /// Saves the folder transformers loads as a `*ForSequenceClassification`.
    public func save(to directory: String) throws {
        let weights = Array(UnsafeBufferPointer(start: head.parameters.pointer, count: head.width))
        try base.save(to: directory, scoreHead: ScoreHead(weights: weights, padTokenID: padToken, mean: mean, standardDeviation: standardDeviation))
    }
}
