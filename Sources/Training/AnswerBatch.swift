import TransformerCore

/// Prompts and answers (episodes, or the answers of a comparison) laid out for one forward pass,
/// in one of two layouts.
///
/// One row per answer: each row a prompt and its answer, right-padded. The position before
/// each answer token has that token as its target, so the pass's per-token log-probabilities
/// are exactly the answer's; padding after a row changes nothing before it (attention is
/// causal), and each row's positions count from 0, so every model sees each episode's tokens at
/// the positions it was sampled at.
///
/// One row per prompt (`sharingPrompts`): the prompt once, its K answers after it as branches of
/// the attention mask (`AttentionMask`), as the reward model lays out a ranking. Every answer's
/// first token is predicted from the prompt's last position, and one position has one target,
/// so that last prompt token opens each branch instead of ending the shared part: branch k is
/// (last prompt token, answer[0], ..., answer[n-2]) at positions P-1 ..< P-1+n, each predicting
/// the next answer token, and sees the first P-1 prompt tokens and itself. Each answer's
/// log-probabilities are then those of its own row in the other layout (tested), from P-1+n
/// tokens of work in place of P+n.
struct AnswerBatch {
    let tokens: [Int32]
    let targets: [Int32]
    /// nil: every position an ordinary token (padding at a row's end is never seen).
    let attentionMask: [UInt8]?
    /// nil: each row's positions count from 0.
    let positionIDs: [Int32]?
    let rowCount: Int
    let rowLength: Int
    /// The tokens a pass computes, padding left out.
    let tokenCount: Int
    /// For each answer, in the order given (episode by episode, or prompt by prompt and answer by
    /// answer), the flat index (row * rowLength + t) whose target is each of its tokens.
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
        (attentionMask, positionIDs, tokenCount) = (nil, nil, rows.reduce(0) { $0 + $1.prompt.count + $1.answer.count })
    }

    /// One row per prompt, its answers as branches (see the type's comment). Prompts are not
    /// empty (a rendered prompt ends with the assistant's header).
    init(sharingPrompts rows: [(prompt: [Int32], answers: [[Int32]])]) {
        precondition(rows.allSatisfy { !$0.prompt.isEmpty }, "a prompt has at least one token")
        let T = rows.map { $0.prompt.count - 1 + $0.answers.reduce(0) { $0 + $1.count } }.max() ?? 0
        var tokens: [Int32] = [], targets: [Int32] = [], mask: [UInt8] = [], positionIDs: [Int32] = [], answerPositions: [[Int]] = []
        var tokenCount = 0
        for (row, (prompt, answers)) in rows.enumerated() {
            let shared = prompt.count - 1
            var rowTokens = Array(prompt.prefix(shared)), rowTargets = [Int32](repeating: -1, count: shared)
            var rowMask = [UInt8](repeating: AttentionMask.ordinary, count: shared), rowPositions = (0..<shared).map(Int32.init)
            for (k, answer) in answers.enumerated() {
                answerPositions.append(answer.indices.map { row * T + rowTokens.count + $0 })
                if answer.isEmpty { continue }  // it opens no branch: a row may be shorter than its prompt
                rowTokens += [prompt[shared]] + answer.dropLast()
                rowTargets += answer
                rowMask += [UInt8](repeating: AttentionMask.branch(k), count: answer.count)
                rowPositions += (shared..<(shared + answer.count)).map(Int32.init)
            }
            let padding = T - rowTokens.count
            tokenCount += rowTokens.count
            tokens += rowTokens + [Int32](repeating: 0, count: padding)
            targets += rowTargets + [Int32](repeating: -1, count: padding)
            mask += rowMask + [UInt8](repeating: AttentionMask.padding, count: padding)
            positionIDs += rowPositions + [Int32](repeating: 0, count: padding)
        }
        (self.tokens, self.targets, attentionMask, self.positionIDs) = (tokens, targets, mask, positionIDs)
        (rowCount, rowLength, self.answerPositions, self.tokenCount) = (rows.count, T, answerPositions, tokenCount)
    }

    /// Episode indices cut into passes of like length within the core's token budget.
    static func passes(_ episodes: [Episode], indices: [Int]? = nil) -> [[Int]] {
        StepPlan.passes(indices ?? Array(episodes.indices)) { episodes[$0].prompt.count + episodes[$0].answer.count }
    }

    /// One forward pass of `model` over the batch, its output head run at the answer tokens only
    /// (the prompts' and the padding's logits are never read); without `forBackward` it keeps one
    /// layer's activations, enough to read the log-probabilities (a scoring pass).
    func forward(_ model: any LanguageModel, forBackward: Bool) throws {
        try model.forward(tokens: tokens, targets: targets, attentionMask: attentionMask, positionIDs: positionIDs, batchSize: rowCount, sequenceLength: rowLength,
                          forBackward: forBackward, logits: .targets)
    }

    /// Each answer's per-token log-probabilities from the last forward pass.
    func answerLogProbabilities(_ model: any LanguageModel, temperature: Float) throws -> [[Float]] {
        let all = try model.tokenLogProbabilities(temperature: temperature)
        return answerPositions.map { $0.map { all[$0] } }
    }

    /// A flat [B*T] gradient from each answer's per-token gradients.
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
