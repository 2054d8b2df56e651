import TransformerCore

/// One answer the policy sampled for one prompt: an episode of policy optimization.
public struct Episode: Sendable {
    /// The conversation the prompt renders (what a reward model with another tokenizer re-renders).
    public let conversation: [ChatTemplate.Message]
    /// The rendered prompt, ending with the assistant's header.
    public let prompt: [Int32]
    /// The sampled tokens, the stop token included when the answer stopped at one.
    public let answer: [Int32]
    /// Whether the answer ended at a stop token (the end of turn) rather than at the length limit.
    public let ended: Bool
    /// log pi(token) of each answer token at the sampling temperature, as the sampler computed it.
    public let samplingLogProbabilities: [Float]
    /// Episodes of the same prompt within an iteration share a group (RLOO's and GRPO's baseline).
    public let group: Int

    /// The answer's text, without its stop token.
    public func answerText(tokenizer: BytePairTokenizer) -> String {
        tokenizer.decode(ended ? Array(answer.dropLast()) : answer)
    }

    /// Samples `answersPerPrompt` answers to each prompt in one batch of sequences decoded
    /// together, with no top-k or top-p (see `PolicyOptions.sampling`).
    /// `isAbandoned` is asked as tokens come: once it says yes, decoding stops and the caller
    /// throws the iteration away.
    static func sample(policy: PretrainedModel, prompts: [(conversation: [ChatTemplate.Message], tokens: [Int32])], answersPerPrompt: Int,
                       options: SamplingOptions, isAbandoned: (() -> Bool)? = nil) throws -> [Episode] {
        var options = options
        options.stopTokens = policy.stopTokens
        let repeated = prompts.flatMap { Array(repeating: $0, count: answersPerPrompt) }
        let samples = try policy.model.sample(prompts: repeated.map(\.tokens), options: options, observer: isAbandoned.map { abandoned in { _, _, _ in !abandoned() } })
        return zip(repeated.indices, samples).map { index, sample in
            Episode(conversation: repeated[index].conversation, prompt: repeated[index].tokens, answer: sample.tokens, ended: sample.stopped,
                    samplingLogProbabilities: sample.logProbabilities, group: index / answersPerPrompt)
        }
    }
}

/// Prompts and answers (episodes, or the answers of a comparison) laid out for one forward pass:
/// each row a prompt and its answer, right-padded. The position before each answer token has
/// that token as its target, so the pass's per-token log-probabilities are exactly the
/// answer's; padding after a row changes nothing before it (attention is causal), and each
/// row's positions count from 0, so every model sees each episode's tokens at the positions it
/// was sampled at.
struct AnswerBatch {
    let tokens: [Int32]
    let targets: [Int32]
    let rowCount: Int
    let rowLength: Int
    /// For each episode, the flat index (row * rowLength + t) whose target is each answer token.
    let answerPositions: [[Int]]

    init(_ episodes: [Episode]) {
        self.init(rows: episodes.map { ($0.prompt, $0.answer) })
    }

    /// Padding is token 0: no target reads it and no earlier position sees it.
    init(rows: [(prompt: [Int32], answer: [Int32])]) {
        let T = rows.map { $0.prompt.count + $0.answer.count }.max() ?? 0
        var tokens: [Int32] = [], targets: [Int32] = [], positions: [[Int]] = []
        tokens.reserveCapacity(rows.count * T)
        for (row, (prompt, answer)) in rows.enumerated() {
            var rowTargets = [Int32](repeating: -1, count: T)
            let first = prompt.count - 1
            for i in answer.indices { rowTargets[first + i] = answer[i] }
            positions.append(answer.indices.map { row * T + first + $0 })
            tokens += prompt + answer + [Int32](repeating: 0, count: T - prompt.count - answer.count)
            targets += rowTargets
        }
        (self.tokens, self.targets, rowCount, rowLength, answerPositions) = (tokens, targets, rows.count, T, positions)
    }

    /// Episode indices cut into passes of like length within the core's token budget.
    static func passes(_ episodes: [Episode], indices: [Int]? = nil) -> [[Int]] {
        StepPlan.passes(indices ?? Array(episodes.indices)) { episodes[$0].prompt.count + episodes[$0].answer.count }
    }

    /// One forward pass of `model` over the batch, its output head run at the answer tokens only
    /// (the prompts' and the padding's logits are never read); without `forBackward` it keeps one
    /// layer's activations, enough to read the log-probabilities (a scoring pass).
    func forward(_ model: any LanguageModel, forBackward: Bool) throws {
        try model.forward(tokens: tokens, targets: targets, attentionMask: nil, positionIDs: nil, batchSize: rowCount, sequenceLength: rowLength,
                          forBackward: forBackward, logits: .targets)
    }

    /// Each episode's per-token log-probabilities from the last forward pass.
    func answerLogProbabilities(_ model: any LanguageModel, temperature: Float) throws -> [[Float]] {
        let all = try model.tokenLogProbabilities(temperature: temperature)
        return answerPositions.map { $0.map { all[$0] } }
    }

    /// A flat [B*T] gradient from each episode's per-answer-token gradients.
    func flatGradients(_ perToken: [[Float]]) -> [Float] {
        var flat = [Float](repeating: 0, count: rowCount * rowLength)
        for (positions, gradients) in zip(answerPositions, perToken) {
            for (position, gradient) in zip(positions, gradients) { flat[position] = gradient }
        }
        return flat
    }
}

extension PretrainedModel {
    /// The per-token log-probabilities of each episode's answer under this model at
    /// `temperature`, with no backward pass after.
    func answerLogProbabilities(of episodes: [Episode], temperature: Float) throws -> [[Float]] {
        var result = [[Float]](repeating: [], count: episodes.count)
        for pass in AnswerBatch.passes(episodes) {
            let batch = AnswerBatch(pass.map { episodes[$0] })
            try batch.forward(model, forBackward: false)
            for (index, values) in zip(pass, try batch.answerLogProbabilities(model, temperature: temperature)) { result[index] = values }
        }
        return result
    }
}
