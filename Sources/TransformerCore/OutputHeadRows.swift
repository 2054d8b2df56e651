/// Where a forward pass runs the output head (the [C, V] product and its softmax).
public enum LogitPositions: Sendable, Equatable {
    /// Nowhere: the pass stops at the final hidden states (a reward model or a value head reads
    /// nothing else); no loss, log-probabilities or their backward then.
    case skipped
    /// At every position: what reading `logits` directly needs (greedy decoding, a judge's
    /// next-token choice, sampling's prefill).
    case every
    /// Only at the positions with a target: all a loss, `tokenLogProbabilities` and their
    /// backward read. A policy stage's prompts and padding have no targets, and the head is a
    /// fifth of a small model's work at each position, so scoring and updating skip that share.
    case targets
}

/// The rows of the final hidden states that the output head ran on in the last forward pass,
/// and the scratch memory that gathers them: each model holds one, so the bookkeeping of
/// `LogitPositions.targets` is written once for every block variant. With `.every` the head
/// reads the hidden states in place and nothing is copied.
final class OutputHeadRows {
    /// The flat position (row * T + t) of each head row, ascending; nil when every position is
    /// a head row (row i is position i).
    private(set) var positions: [Int32]?
    /// Each head row's target (-1 where it has none).
    private(set) var targets: [Int32] = []
    private var scratch: FloatBuffer?
    private var width = 0

    var count: Int { targets.count }

    /// Selects the head rows of a forward pass whose per-position targets are `targets`, and
    /// gathers their hidden states ([positions, width]) when not every position is one.
    func select(_ selection: LogitPositions, targets allTargets: [Int32], hiddenStates: UnsafePointer<Float>, width C: Int) {
        width = C
        guard selection == .targets else {
            (positions, targets) = (nil, selection == .every ? allTargets : [])
            return
        }
        let selected = allTargets.indices.filter { allTargets[$0] >= 0 }
        positions = selected.map { Int32($0) }
        targets = selected.map { allTargets[$0] }
        // The gathered rows and, for backward, their gradient.
        scratch = FloatBuffer.carved(into: [2 * selected.count * C], reusing: scratch).buffer
        let gathered = scratch!.pointer
        for (row, position) in selected.enumerated() {
            (gathered + row * C).update(from: hiddenStates + position * C, count: C)
        }
    }

    /// The head's input: the hidden states themselves, or the head rows gathered from them.
    func input(_ hiddenStates: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        positions == nil ? hiddenStates : scratch!.pointer
    }

    /// Where the head's backward adds d input: `hiddenGradient` itself, or a zeroed scratch that
    /// `addInputGradient(to:)` then adds back to each row's position.
    func inputGradient(_ hiddenGradient: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        guard positions != nil else { return hiddenGradient }
        let gradient = scratch!.pointer + count * width
        gradient.update(repeating: 0, count: count * width)
        return gradient
    }

    func addInputGradient(to hiddenGradient: UnsafeMutablePointer<Float>) {
        guard let positions else { return }
        let gradient = scratch!.pointer + count * width, C = width
        for (row, position) in positions.enumerated() {
            let into = hiddenGradient + Int(position) * C, from = gradient + row * C
            for i in 0..<C { into[i] += from[i] }
        }
    }

    /// A per-position array's entries at the head rows.
    func atRows(_ perPosition: [Float]) -> [Float] {
        guard let positions else { return perPosition }
        return positions.map { perPosition[Int($0)] }
    }

    /// A per-row array spread over `positionCount` positions, 0 where the head did not run.
    func perPosition(_ perRow: [Float], positionCount: Int) -> [Float] {
        guard let positions else { return perRow }
        var out = [Float](repeating: 0, count: positionCount)
        for (row, position) in positions.enumerated() { out[Int(position)] = perRow[row] }
        return out
    }

    /// The head row of a flat position, nil where the head did not run there.
    func row(ofPosition position: Int) -> Int? {
        guard let positions else { return position >= 0 && position < count ? position : nil }
        var (low, high) = (0, positions.count)
        while low < high {
            let middle = (low + high) / 2
            if Int(positions[middle]) < position { low = middle + 1 } else { high = middle }
        }
        return low < positions.count && Int(positions[low]) == position ? low : nil
    }
}
