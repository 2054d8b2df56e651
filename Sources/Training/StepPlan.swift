import Foundation
import TransformerCore

/// Which examples each optimizer step trains on: every epoch a seeded permutation of the
/// training set, cut into steps of batchSize x gradientAccumulation examples (the last step of
/// an epoch may be smaller). A function of the seed and the step alone, so a resumed run sees
/// exactly the batches it would have seen.
///
/// A step's examples are then sorted by length and grouped into forward passes of at most
/// `passTokenBudget` tokens, padding included: sequences of like length share a pass, so
/// padding is nearly nil (HH-RLHF's pairs vary from tens to hundreds of tokens, and a pass
/// padded to its longest wasted a third of its work). The gradient of a step is the same sum
/// however its passes are cut.
struct StepPlan {
    let exampleCount: Int
    let options: TrainingOptions

    var examplesPerStep: Int { options.batchSize * options.gradientAccumulation }
    var stepsPerEpoch: Int { (exampleCount + examplesPerStep - 1) / examplesPerStep }
    var totalSteps: Int { stepsPerEpoch * options.epochs }

    /// The example indices of `step`.
    func examples(ofStep step: Int) -> [Int] {
        let epoch = step / stepsPerEpoch
        let order = TrainingSplit.shuffledIndices(count: exampleCount, seed: options.seed &+ UInt64(epoch) &* 0x9E3779B97F4A7C15)
        let start = (step % stepsPerEpoch) * examplesPerStep
        return Array(order[start..<min(exampleCount, start + examplesPerStep)])
    }

    /// The example indices of each forward pass of `step`: example i takes `rows(i)` rows of
    /// at most `length(i)` tokens.
    func passes(ofStep step: Int, rows: (Int) -> Int = { _ in 1 }, length: (Int) -> Int) -> [[Int]] {
        Self.passes(examples(ofStep: step), rows: rows, length: length)
    }

    static let passTokenBudget = 2048

    /// `indices` sorted longest first (ties by index) and cut into passes whose rows times
    /// longest row stay within the budget (a longer example has a pass of its own).
    static func passes(_ indices: [Int], rows: (Int) -> Int = { _ in 1 }, length: (Int) -> Int) -> [[Int]] {
        let sorted = indices.map { ($0, length($0)) }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        var passes: [[Int]] = []
        var current: [Int] = [], longest = 0, rowCount = 0
        for (index, rowLength) in sorted {
            if !current.isEmpty, max(longest, rowLength) * (rowCount + rows(index)) > passTokenBudget {
                passes.append(current)
                (current, longest, rowCount) = ([], 0, 0)
            }
            current.append(index)
            longest = max(longest, rowLength)
            rowCount += rows(index)
        }
        if !current.isEmpty { passes.append(current) }
        return passes
    }

    func epoch(afterStep step: Int) -> Double { Double(step) / Double(stepsPerEpoch) }
    func endsEpoch(_ step: Int) -> Bool { step % stepsPerEpoch == 0 }
}

/// A monotonic clock in seconds.
func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
