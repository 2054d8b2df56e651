import Foundation
import TallyTestSupport
import Testing
@testable import Labeling


@Suite("Agreement statistics")
struct AgreementTests {
    @Test func pairwiseAgreementCountsTiesAsTheirOwnAnswer() {
        // (1,2) and (1,3) agree; on (2,3) the labelers disagree.
        #expect(Agreement.pairwise([1: 1, 2: 2, 3: 3], [1: 1, 2: 3, 3: 2]) == (2, 3))
        // A tie agrees only with a tie: (1,2) tie vs preference, (2,3) preference vs tie.
        #expect(Agreement.pairwise([1: 1, 2: 1, 3: 2], [1: 1, 2: 2, 3: 2]) == (1, 3))
        #expect(Agreement.pairwise([1: 1, 2: 1], [1: 2, 2: 2]) == (1, 1))
        // Only candidates both ranked count.
        #expect(Agreement.pairwise([1: 1, 2: 2, 3: 3], [2: 1, 3: 2, 4: 3]) == (1, 1))
    }

    @Test func kendallTauBByHand() {
        #expect(abs(Agreement.kendallTauB([1, 2, 3], [1, 3, 2])! - 1.0 / 3) < 1e-12)
        // P = 1, Q = 0, one pair tied in x only, one in y only: 1 / sqrt(2 * 2).
        #expect(abs(Agreement.kendallTauB([1, 1, 2], [1, 2, 2])! - 0.5) < 1e-12)
        #expect(Agreement.kendallTauB([1, 2, 3], [3, 2, 1]) == -1)
        #expect(Agreement.kendallTauB([1, 1, 1], [1, 2, 3]) == nil)
    }

    @Test func krippendorffAlphaByHand() {
        // Units [a,a], [b,b], [a,b]: o_aa = o_bb = 2, o_ab = o_ba = 1, n = 6;
        // D_o = 2/6, D_e = 2 * 3 * 3 / 30 = 0.6, alpha = 1 - (1/3) / 0.6 = 4/9.
        #expect(abs(Agreement.krippendorffAlpha(units: [[0, 0], [1, 1], [0, 1]], level: .nominal)! - 4.0 / 9) < 1e-12)
        // On the interval scale 1 and 3 are 4 apart (squared) both observed and expected: also 4/9.
        #expect(abs(Agreement.krippendorffAlpha(units: [[1, 1], [3, 3], [1, 3]], level: .interval)! - 4.0 / 9) < 1e-12)
        #expect(Agreement.krippendorffAlpha(units: [[2, 2], [5, 5, 5], [7]], level: .interval) == 1)
        #expect(Agreement.krippendorffAlpha(units: [[1, 1], [1, 1]], level: .nominal) == nil, "no variation: undefined")
        #expect(Agreement.krippendorffAlpha(units: [[1], [2]], level: .nominal) == nil, "no pairable unit")
    }

    @Test func bootstrapIntervalsContainTheEstimateAndRepeat() {
        let same = Agreement.bootstrapRatio(Array(repeating: (3, 4), count: 10))!
        #expect(same.estimate == 0.75 && same.lower == 0.75 && same.upper == 0.75)
        let mixed = (0..<50).map { ($0 % 3, 2) }
        let first = Agreement.bootstrapRatio(mixed)!, second = Agreement.bootstrapRatio(mixed)!
        #expect(first.lower < first.estimate && first.estimate < first.upper)
        #expect(first.lower == second.lower && first.upper == second.upper, "seeded")
        #expect(Agreement.bootstrapRatio([(0, 0)]) == nil)
        let rateOnly = Agreement.bootstrapRatio(mixed, resamples: 0)!
        #expect(rateOnly.estimate == first.estimate && rateOnly.lower == first.estimate && rateOnly.upper == first.estimate)
    }

    /// Random rankings with ties, ratings and flags, computed here and by scipy's `kendalltau`,
    /// the `krippendorff` package and a plain Python loop: the numbers must match.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: checkerPython),
                   "needs the checker's Python environment; `make test` creates .build-python/test"))
    func matchesScipyAndTheKrippendorffPackage() throws {
        var generator = SplitMix64(seed: 42)
        func random(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
        var rankingPairs: [([Int: Int], [Int: Int])] = []
        for _ in 0..<40 {
            let count = random(2...9)
            let first = Dictionary(uniqueKeysWithValues: (0..<count).map { ($0, random(1...count)) })
            let second = Dictionary(uniqueKeysWithValues: (0..<count).map { ($0, random(1...count)) })
            rankingPairs.append((first, second))
        }
        // Three coders; some values missing.
        let ratingUnits: [[Int?]] = (0..<60).map { _ in (0..<3).map { _ in random(0...5) == 0 ? nil : random(1...7) } }
        let flagUnits: [[Int?]] = (0..<60).map { _ in (0..<3).map { _ in random(0...6) == 0 ? nil : (random(0...3) == 0 ? 1 : 0) } }

        var agreeing = 0, pairs = 0
        var taus: [Double?] = []
        for (first, second) in rankingPairs {
            let (a, p) = Agreement.pairwise(first, second)
            agreeing += a
            pairs += p
            let shared = first.keys.sorted()
            taus.append(Agreement.kendallTauB(shared.map { Double(first[$0]!) }, shared.map { Double(second[$0]!) }))
        }
        let ratingAlpha = Agreement.krippendorffAlpha(units: ratingUnits.map { $0.compactMap { $0.map(Double.init) } }, level: .interval)!
        let flagAlpha = Agreement.krippendorffAlpha(units: flagUnits.map { $0.compactMap { $0.map(Double.init) } }, level: .nominal)!

        func stringKeys(_ ranks: [Int: Int]) -> [String: Int] { Dictionary(uniqueKeysWithValues: ranks.map { (String($0.key), $0.value) }) }
        let caseFile: [String: Any] = [
            "rankings": rankingPairs.map { [stringKeys($0.0), stringKeys($0.1)] },
            "ratingUnits": ratingUnits.map { $0.map { $0.map { $0 as Any } ?? NSNull() } },
            "flagUnits": flagUnits.map { $0.map { $0.map { $0 as Any } ?? NSNull() } },
        ]
        let path = TemporaryFiles.path("tally-agreement.json")
        try JSONSerialization.data(withJSONObject: caseFile).write(to: URL(fileURLWithPath: path))
        let run = try runChecker("check_agreement.py", besides: #filePath, [path])
        #expect(run.status == 0, "\(run.errors)")
        let reference = try #require(run.json as? [String: Any])
        #expect(abs((reference["agreement"] as! Double) - Double(agreeing) / Double(pairs)) < 1e-12)
        let referenceTaus = reference["taus"] as! [Any]
        for (mine, theirs) in zip(taus, referenceTaus) {
            if let theirs = theirs as? Double { #expect(abs(mine! - theirs) < 1e-9) } else { #expect(mine == nil) }
        }
        #expect(abs((reference["ratingAlpha"] as! Double) - ratingAlpha) < 1e-9, "\(ratingAlpha)")
        #expect(abs((reference["flagAlpha"] as! Double) - flagAlpha) < 1e-9, "\(flagAlpha)")
    }
}
