import Testing
@testable import Labeling

@Suite("The reward-hacking watch's checks")
struct RewardHackingWatchTests {
    let start = ["kl_per_answer": 0.0, "answer_length": 20.0, "entropy": 2.0]

    @Test func eachBoundRingsOnlyPastItsLineAndAgainstTheStartingPolicy() {
        let bounds = RewardHackingBounds(klPerAnswer: 8, lengthRatio: 1.5, entropyFraction: 0.5)
        let baseline = RewardHackingWatch.baseline(of: start)
        #expect(baseline == ["answer_length": 20, "entropy": 2])
        #expect(RewardHackingWatch.alarms(step: 3, metrics: ["kl_per_answer": 8, "answer_length": 30, "entropy": 1], baseline: baseline, bounds: bounds).isEmpty,
                "at each bound exactly, nothing rings")
        let alarms = RewardHackingWatch.alarms(step: 9, metrics: ["kl_per_answer": 8.5, "answer_length": 31, "entropy": 0.9], baseline: baseline, bounds: bounds)
        #expect(alarms.map(\.kind) == [.kl, .length, .entropy])
        #expect(alarms[1].bound == 30 && alarms[1].baseline == 20 && alarms[2].bound == 1)
        #expect(alarms[0].message.hasPrefix("KL to the reference 8.50 nats per answer at step 9, above the project's bound of 8.00"))
        #expect(alarms[1].message.contains("1.50x the starting policy's 20.0"))
        // PPO reports its entropy under its own name.
        let ppo = RewardHackingWatch.alarms(step: 2, metrics: ["policy/entropy_avg": 0.5], baseline: RewardHackingWatch.baseline(of: ["policy/entropy_avg": 2]), bounds: bounds)
        #expect(ppo.map(\.kind) == [.entropy])
        #expect(RewardHackingWatch.alarms(step: 9, metrics: ["kl_per_answer": 100], baseline: baseline, bounds: RewardHackingBounds()).isEmpty, "0 turns a bound off")
    }

    @Test func boundsThatCouldNeverOrWouldAlwaysRingAreRefused() {
        #expect(throws: LabelingError.self) { try RewardHackingBounds.check(klPerAnswer: -1, lengthRatio: nil, entropyFraction: nil) }
        #expect(throws: LabelingError.self) { try RewardHackingBounds.check(klPerAnswer: nil, lengthRatio: 0.8, entropyFraction: nil) }
        #expect(throws: LabelingError.self) { try RewardHackingBounds.check(klPerAnswer: nil, lengthRatio: nil, entropyFraction: 1) }
        #expect(throws: LabelingError.self) { try RewardHackingBounds.check(klPerAnswer: .infinity, lengthRatio: nil, entropyFraction: nil) }
        #expect(throws: Never.self) { try RewardHackingBounds.check(klPerAnswer: 0, lengthRatio: 0, entropyFraction: 0) }
    }

    /// The standing against people, counted by hand: the policy (model 7) on four pairs, one of
    /// them unscored by its reward model (left out); people give it one win, one tie and one
    /// loss of three, the reward model two wins and an equal pair.
    @Test func theRewardModelsShareIsCountedOnThePairsPeopleJudged() throws {
        let verdicts = [
            EvaluationVerdict(pairID: 1, leftModelID: 7, rightModelID: 3, leftAnswerID: 10, rightAnswerID: 11, preference: .left),
            EvaluationVerdict(pairID: 2, leftModelID: 3, rightModelID: 7, leftAnswerID: 12, rightAnswerID: 13, preference: .tie),
            EvaluationVerdict(pairID: 3, leftModelID: 3, rightModelID: 7, leftAnswerID: 14, rightAnswerID: 15, preference: .left),
            EvaluationVerdict(pairID: 4, leftModelID: 7, rightModelID: 3, leftAnswerID: 16, rightAnswerID: 17, preference: .right),
            EvaluationVerdict(pairID: 5, leftModelID: 3, rightModelID: 4, leftAnswerID: 18, rightAnswerID: 19, preference: .left),
        ]
        let rewards: [Int: Double] = [10: 1, 11: 0, 12: 0.5, 13: 0.5, 14: -1, 15: 2, 18: 0, 19: 1]
        let standing = try #require(RewardHumanGapWatch.standing(policyID: 7, verdicts: verdicts, rewards: rewards))
        #expect(standing.verdicts == 3 && standing.humanShare == 0.5 && standing.rewardModelShare == 2.5 / 3)
        #expect(standing.humanUpper == EvaluationResults.wilsonInterval(successes: 1.5, trials: 3).upper)
        #expect(RewardHumanGapWatch.standing(policyID: 9, verdicts: verdicts, rewards: rewards) == nil, "a version never judged has no standing")
        #expect(throws: LabelingError.self) { try RewardHumanGapWatch.check(bound: 1) }
        #expect(throws: LabelingError.self) { try RewardHumanGapWatch.check(bound: -0.1) }
        #expect(throws: Never.self) { try RewardHumanGapWatch.check(bound: 0) }
    }
}
