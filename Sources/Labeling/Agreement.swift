import Foundation

/// The statistics of labeler agreement, as pure functions over values (the formulas are in
/// Docs/quality.md; each is checked in the tests against hand-computed cases and against scipy
/// and the `krippendorff` package).
public enum Agreement {
    /// How two labelers' rankings of the same candidates compare pair by pair (InstructGPT's
    /// agreement rate): for every pair of candidates both ranked, each labeler either prefers
    /// one of the two or ties them; the labelers agree on the pair when they say the same of it
    /// (a tie agrees only with a tie).
    public static func pairwise(_ first: [Int: Int], _ second: [Int: Int]) -> (agreeing: Int, pairs: Int) {
        let shared = first.keys.filter { second[$0] != nil }.sorted()
        var agreeing = 0, pairs = 0
        for i in 0..<shared.count {
            for j in (i + 1)..<shared.count {
                let (a, b) = (shared[i], shared[j])
                pairs += 1
                if (first[a]! - first[b]!).signum() == (second[a]! - second[b]!).signum() { agreeing += 1 }
            }
        }
        return (agreeing, pairs)
    }

    /// Kendall's tau-b between two paired samples (ties in either adjusted for, as scipy's
    /// `kendalltau` computes by default); nil when either sample is all ties.
    public static func kendallTauB(_ x: [Double], _ y: [Double]) -> Double? {
        precondition(x.count == y.count)
        var concordant = 0.0, discordant = 0.0, tiedX = 0.0, tiedY = 0.0, pairs = 0.0
        for i in 0..<x.count {
            for j in (i + 1)..<x.count {
                let sx = x[i] < x[j] ? -1 : (x[i] > x[j] ? 1 : 0), sy = y[i] < y[j] ? -1 : (y[i] > y[j] ? 1 : 0)
                pairs += 1
                if sx == 0 { tiedX += 1 }
                if sy == 0 { tiedY += 1 }
                if sx != 0 && sy != 0 { if sx == sy { concordant += 1 } else { discordant += 1 } }
            }
        }
        let denominator = ((pairs - tiedX) * (pairs - tiedY)).squareRoot()
        return denominator > 0 ? (concordant - discordant) / denominator : nil
    }

    /// How Krippendorff's alpha measures the distance between two values.
    public enum Level: Sendable {
        /// Values are names: any two different values differ equally (flags).
        case nominal
        /// Values are numbers on an interval scale: the squared difference (ratings).
        case interval

        func squaredDistance(_ a: Double, _ b: Double) -> Double {
            switch self {
            case .nominal: return a == b ? 0 : 1
            case .interval: return (a - b) * (a - b)
            }
        }
    }

    /// Krippendorff's alpha over units (here: a candidate of a prompt), each with the values the
    /// labelers gave it. Units with fewer than two values are not pairable and are left out.
    /// nil when there is no pairable unit or every value is the same (no disagreement is
    /// expected, so alpha is undefined).
    public static func krippendorffAlpha(units: [[Double]], level: Level) -> Double? {
        // The coincidence matrix, over the distinct values.
        var values: [Double] = []
        var index: [Double: Int] = [:]
        for unit in units where unit.count >= 2 {
            for value in unit where index[value] == nil {
                index[value] = values.count
                values.append(value)
            }
        }
        guard !values.isEmpty else { return nil }
        var coincidences = [Double](repeating: 0, count: values.count * values.count)
        for unit in units where unit.count >= 2 {
            let weight = 1 / Double(unit.count - 1)
            for i in 0..<unit.count {
                for j in 0..<unit.count where i != j {
                    coincidences[index[unit[i]]! * values.count + index[unit[j]]!] += weight
                }
            }
        }
        var marginals = [Double](repeating: 0, count: values.count)
        for c in 0..<values.count { for k in 0..<values.count { marginals[c] += coincidences[c * values.count + k] } }
        let total = marginals.reduce(0, +)
        var observed = 0.0, expected = 0.0
        for c in 0..<values.count {
            for k in 0..<values.count {
                let distance = level.squaredDistance(values[c], values[k])
                observed += coincidences[c * values.count + k] * distance
                expected += marginals[c] * marginals[k] * distance
            }
        }
        observed /= total
        expected /= total * (total - 1)
        return expected > 0 ? 1 - observed / expected : nil
    }

    /// A ratio of sums with a percentile bootstrap 95% interval: `groups` are resampled with
    /// replacement (groups are prompts, so the pairs of one prompt, which are not independent,
    /// move together), `resamples` times, from a fixed seed so a report is repeatable.
    public static func bootstrapRatio(_ groups: [(numerator: Int, denominator: Int)], resamples: Int = 1000, seed: UInt64 = 0x7A11)
        -> (estimate: Double, lower: Double, upper: Double)? {
        let numerator = groups.reduce(0) { $0 + $1.numerator }, denominator = groups.reduce(0) { $0 + $1.denominator }
        guard denominator > 0 else { return nil }
        let estimate = Double(numerator) / Double(denominator)
        // Without resamples (a caller that needs only the rate) the interval is the estimate.
        guard resamples > 0 else { return (estimate, estimate, estimate) }
        var generator = SplitMix64(seed: seed)
        var ratios: [Double] = []
        ratios.reserveCapacity(resamples)
        for _ in 0..<resamples {
            var top = 0, bottom = 0
            for _ in 0..<groups.count {
                let group = groups[Int(generator.next() % UInt64(groups.count))]
                top += group.numerator
                bottom += group.denominator
            }
            if bottom > 0 { ratios.append(Double(top) / Double(bottom)) }
        }
        ratios.sort()
        func percentile(_ p: Double) -> Double { ratios[min(ratios.count - 1, max(0, Int((p * Double(ratios.count)).rounded(.down))))] }
        return (estimate, percentile(0.025), percentile(0.975))
    }
}
