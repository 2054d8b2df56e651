import Foundation
import Testing
@testable import Labeling

@Suite("Human evaluation results: win rates, the Bradley-Terry leaderboard, reward-model agreement")
struct EvaluationResultsTests {
    /// Verdicts between versions `a` (always on the left here unless `swapped`) and `b`.
    private func verdicts(_ a: Int, _ b: Int, wins: Int, losses: Int, ties: Int, swapped: Bool = false, firstPair: Int = 1) -> [EvaluationVerdict] {
        let outcomes = Array(repeating: PairPreference.left, count: wins) + Array(repeating: .right, count: losses) + Array(repeating: .tie, count: ties)
        return outcomes.enumerated().map { index, outcome in
            let preference: PairPreference = swapped ? (outcome == .left ? .right : outcome == .right ? .left : .tie) : outcome
            return EvaluationVerdict(pairID: firstPair + index, leftModelID: swapped ? b : a, rightModelID: swapped ? a : b,
                                     leftAnswerID: 2 * (firstPair + index), rightAnswerID: 2 * (firstPair + index) + 1, preference: preference)
        }
    }

    @Test func wilsonIntervalByHand() {
        // 8 of 10: the textbook Wilson interval, 0.4902 to 0.9433.
        let interval = EvaluationResults.wilsonInterval(successes: 8, trials: 10)
        #expect(abs(interval.lower - 0.490162) < 1e-5 && abs(interval.upper - 0.943318) < 1e-5)
        // No wins in 5 still leaves room above zero; a tie is half a success.
        #expect(EvaluationResults.wilsonInterval(successes: 0, trials: 5).lower == 0)
        #expect(abs(EvaluationResults.wilsonInterval(successes: 0, trials: 5).upper - 0.434482) < 1e-5)
        #expect(abs(EvaluationResults.wilsonInterval(successes: 2.5, trials: 4).lower - 0.219427) < 1e-5)
    }

    @Test func twoVersionsFitTheirOddsAndTiesCountHalf() {
        // 3 wins to 1: the maximum-likelihood gap is ln 3 nats; the weak prior pulls it in a little.
        let results = EvaluationResults.compute(verdicts(7, 9, wins: 3, losses: 1, ties: 0), rewards: [:])
        let gap = (results.leaderboard[0].rating - results.leaderboard[1].rating) / EvaluationResults.eloScale
        #expect(results.leaderboard.map(\.modelId) == [7, 9])
        #expect(gap < log(3.0) && gap > log(3.0) - 0.01, "gap \(gap)")
        #expect(abs((results.leaderboard[0].rating + results.leaderboard[1].rating) / 2 - 1000) < 1e-9)
        #expect(results.matchups == [EvaluationResults.Matchup(modelA: 7, modelB: 9, winsA: 3, winsB: 1, ties: 0, winRateA: 0.75,
                                                             lower: EvaluationResults.wilsonInterval(successes: 3, trials: 4).lower,
                                                             upper: EvaluationResults.wilsonInterval(successes: 3, trials: 4).upper)])
        // One win and two ties against nothing: a score of 2 of 3, odds of 2.
        let tied = EvaluationResults.compute(verdicts(7, 9, wins: 1, losses: 0, ties: 2), rewards: [:])
        let tiedGap = (tied.leaderboard[0].rating - tied.leaderboard[1].rating) / EvaluationResults.eloScale
        #expect(abs(tiedGap - log(2.0)) < 0.01 && tied.matchups[0].winRateA == 2.0 / 3)
        #expect(tied.leaderboard[0].ties == 2 && tied.leaderboard[1].losses == 1 && tied.leaderboard[1].wins == 0)
        // Even records give even ratings, whichever side the versions were on.
        let even = EvaluationResults.compute(verdicts(7, 9, wins: 2, losses: 2, ties: 3) + verdicts(7, 9, wins: 1, losses: 1, ties: 0, swapped: true, firstPair: 20), rewards: [:])
        #expect(abs(even.leaderboard[0].rating - 1000) < 1e-9 && abs(even.leaderboard[1].rating - 1000) < 1e-9)
    }

    @Test func threeVersionsAreOrderedWithIntervalsAroundTheirRatings() {
        // 1 beats 2 mostly, 2 beats 3 mostly, 1 and 3 never met: the fit orders them 1, 2, 3
        // through 2, and a version that never won stays finite.
        let games = verdicts(1, 2, wins: 8, losses: 2, ties: 2) + verdicts(2, 3, wins: 9, losses: 0, ties: 1, swapped: true, firstPair: 100)
        let results = EvaluationResults.compute(games, rewards: [:])
        #expect(results.leaderboard.map(\.modelId) == [1, 2, 3])
        #expect(results.verdicts == 22 && results.matchups.count == 2)
        for standing in results.leaderboard {
            #expect(standing.rating.isFinite && standing.lower <= standing.rating && standing.rating <= standing.upper, "\(standing)")
            #expect(standing.upper - standing.lower > 10, "a dozen verdicts leave a wide interval: \(standing)")
        }
        // The bootstrap is seeded: the same verdicts give the same leaderboard.
        #expect(EvaluationResults.compute(games, rewards: [:]) == results)
        // More of the same evidence narrows the intervals.
        let more = EvaluationResults.compute((0..<8).flatMap { round in games.map {
            EvaluationVerdict(pairID: $0.pairID + 1000 * round, leftModelID: $0.leftModelID, rightModelID: $0.rightModelID,
                              leftAnswerID: $0.leftAnswerID, rightAnswerID: $0.rightAnswerID, preference: $0.preference)
        } }, rewards: [:])
        #expect(more.leaderboard[1].upper - more.leaderboard[1].lower < results.leaderboard[1].upper - results.leaderboard[1].lower)
    }

    @Test func aVersionJudgedOnceGetsAWideIntervalNotAPoint() {
        // Every bootstrap resample of one verdict is that verdict; the posterior interval is not fooled.
        let once = EvaluationResults.compute(verdicts(1, 2, wins: 1, losses: 0, ties: 0), rewards: [:])
        for standing in once.leaderboard { #expect(standing.upper - standing.lower > 800, "\(standing)") }
        // The centred posterior spread by hand: no verdicts, only the prior (variance 100 each):
        // s1 - mean = (s1 - s2) / 2 has variance 50.
        let spread = BradleyTerry.standardErrors(curvature: [[0.01, 0], [0, 0.01]])
        #expect(spread.allSatisfy { abs($0 - 50.0.squareRoot()) < 1e-9 }, "\(spread)")
    }

    @Test func rewardModelAgreementAndTheLeftSidesShare() {
        // Pairs 1..4: left, left, right, tie. Answer ids are 2p (left) and 2p + 1 (right).
        let games = verdicts(1, 2, wins: 2, losses: 1, ties: 1)
        // Reward model 50 prefers left on pairs 1 and 2, right on 3: agrees with all three decided verdicts.
        // Reward model 60 prefers right on 1, gives pair 2 equal rewards (half), left on 3: 0.5 of 3.
        // Reward model 70 scored only pair 1's answers: one verdict compared.
        let rewards: [Int: [Int: Double]] = [
            50: [2: 1, 3: 0, 4: 2, 5: 1, 6: 0, 7: 3, 8: 0, 9: 9],
            60: [2: 0, 3: 1, 4: 1, 5: 1, 6: 5, 7: 3],
            70: [2: 1, 3: 0],
        ]
        let results = EvaluationResults.compute(games, rewards: rewards)
        #expect(results.rewardModels.map(\.rewardModelId) == [50, 60, 70])
        #expect(results.rewardModels.map(\.all.verdicts) == [3, 3, 1])
        #expect(results.rewardModels.map(\.all.share) == [1, 0.5 / 3, 1])
        #expect(results.rewardModels.allSatisfy { $0.all.lower <= $0.all.share && $0.all.share <= $0.all.upper && $0.heldOutLabelers == nil })
        // Two of the three decided verdicts went to the left answer.
        #expect(results.leftSide == EvaluationResults.Share(credit: 2, verdicts: 3))
        #expect(results.leftSide.map { abs($0.share - 2.0 / 3) < 1e-12 && $0.lower == EvaluationResults.wilsonInterval(successes: 2, trials: 3).lower } == true)
        // The held-out labelers' verdicts alone: pair 3's (right), which reward model 50 agrees with and 60 does not.
        let heldOut = games.map { verdict in
            EvaluationVerdict(pairID: verdict.pairID, leftModelID: verdict.leftModelID, rightModelID: verdict.rightModelID, leftAnswerID: verdict.leftAnswerID,
                              rightAnswerID: verdict.rightAnswerID, preference: verdict.preference, byHeldOutLabeler: verdict.pairID == 3)
        }
        let split = EvaluationResults.compute(heldOut, rewards: rewards)
        #expect(split.rewardModels.map { $0.heldOutLabelers?.share } == [1, 0, nil])
        #expect(split.rewardModels.map(\.all) == results.rewardModels.map(\.all))
    }

    @Test func noVerdictsMakeAnEmptyBoard() {
        let results = EvaluationResults.compute([], rewards: [50: [1: 0.5]])
        #expect(results.verdicts == 0 && results.leaderboard.isEmpty && results.matchups.isEmpty && results.leftSide == nil && results.rewardModels.isEmpty)
    }
}
