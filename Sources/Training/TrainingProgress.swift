/// What a trainer reports while it runs: after every `loggingSteps` optimizer steps (training
/// metrics, averaged over those steps) and after each validation pass. Metric names are those
/// of the TRL trainer that does the same job, so practitioners read the curves at once.
public struct TrainingProgress: Sendable {
    public enum Phase: String, Sendable { case training = "train", validation = "eval" }

    public let phase: Phase
    /// Optimizer steps done, and in all.
    public let step: Int
    public let totalSteps: Int
    /// Fractional epochs done.
    public let epoch: Double
    public let elapsedSeconds: Double
    /// In a fixed order: loss first.
    public let metrics: [(name: String, value: Double)]

    public func metric(_ name: String) -> Double? { metrics.first { $0.name == name }?.value }
}

/// Averages per-step metrics between two reports.
struct MetricAccumulator {
    private var sums: [(name: String, value: Double)] = []
    private var counts: [Int] = []

    mutating func add(_ name: String, _ value: Double) {
        if let index = sums.firstIndex(where: { $0.name == name }) {
            sums[index].value += value
            counts[index] += 1
        } else {
            sums.append((name, value))
            counts.append(1)
        }
    }

    mutating func drain() -> [(name: String, value: Double)] {
        defer { (sums, counts) = ([], []) }
        return zip(sums, counts).map { ($0.name, $0.value / Double($1)) }
    }
}
