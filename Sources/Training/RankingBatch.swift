import TransformerCore

/// The rankings of one forward pass laid out as rows of tokens.
///
/// Shared (the default): one row per ranking, the prompt once and then its K answers, each
/// answer a branch of the attention mask (`AttentionMask`) that sees the prompt and itself, with
/// position ids that continue from the prompt's end in every answer. The prompt's keys and
/// values serve all K answers, and the gradients from all K flow back into it.
///
/// Unshared: one row per answer, the prompt repeated: what TRL computes, kept to prove the two
/// equal and to measure what sharing saves.
struct RankingBatch {
    let tokens: [Int32]
    let attentionMask: [UInt8]
    let positionIDs: [Int32]
    let rowCount: Int
    let rowLength: Int
    /// For each ranking, the flat index (row * rowLength + t) of each answer's last token.
    let scorePositions: [[Int]]
    /// Tokens that are not padding.
    let tokenCount: Int

    init(rankings: [EncodedRanking], sharesPrompt: Bool, padToken: Int32) {
        var rows: [(tokens: [Int32], mask: [UInt8], positions: [Int32])] = []
        var ends: [[(row: Int, offset: Int)]] = []
        for ranking in rankings {
            let P = ranking.prompt.count
            if sharesPrompt {
                var row = (tokens: ranking.prompt, mask: [UInt8](repeating: AttentionMask.ordinary, count: P), positions: (0..<P).map(Int32.init))
                var answerEnds: [(row: Int, offset: Int)] = []
                for (k, answer) in ranking.answers.enumerated() {
                    row.tokens += answer
                    row.mask += [UInt8](repeating: AttentionMask.branch(k), count: answer.count)
                    row.positions += (P..<(P + answer.count)).map(Int32.init)
                    answerEnds.append((rows.count, row.tokens.count - 1))
                }
                rows.append(row)
                ends.append(answerEnds)
            } else {
                ends.append(ranking.answers.map { answer in
                    let length = P + answer.count
                    rows.append((ranking.prompt + answer, [UInt8](repeating: AttentionMask.ordinary, count: length), (0..<length).map(Int32.init)))
                    return (rows.count - 1, length - 1)
                })
            }
        }
        let T = rows.map(\.tokens.count).max() ?? 0
        var tokens: [Int32] = [], mask: [UInt8] = [], positions: [Int32] = []
        tokens.reserveCapacity(rows.count * T)
        for row in rows {
            let padding = T - row.tokens.count
            tokens += row.tokens + [Int32](repeating: padToken, count: padding)
            mask += row.mask + [UInt8](repeating: AttentionMask.padding, count: padding)
            positions += row.positions + [Int32](repeating: 0, count: padding)
        }
        self.tokens = tokens
        attentionMask = mask
        positionIDs = positions
        rowCount = rows.count
        rowLength = T
        scorePositions = ends.map { $0.map { $0.row * T + $0.offset } }
        tokenCount = rows.reduce(0) { $0 + $1.tokens.count }
    }
}
