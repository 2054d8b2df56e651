import Foundation
import Storage

/// The reward-hacking watch's check against people: a policy that games its reward model wins
/// that model's favour while people stop preferring it (Goodhart's law, as Gao et al. 2022
/// measure it). After each human verdict on an evaluation pair, every policy version on the pair
/// that an RLOO, GRPO or PPO job made is checked over all its judged pairs: the share of them
/// the job's reward model gives to it (the higher reward of the two answers; equal rewards count
/// half) against the share people gave it (a tie counts half). The alarm rings when the reward
/// model's share exceeds the upper end of the people's 95% Wilson interval by more than the
/// project's `alarmRewardHumanGap`, on at least `minimumVerdicts` verdicts; it is raised once on
/// the job that made the policy, with a line in its log. That job has finished by then, so
/// nothing is paused: the alarm says not to build on that version.
public enum RewardHumanGapWatch {
    /// Verdicts on a policy's pairs before the check speaks: fewer say too little about people.
    public static let minimumVerdicts = 10

    /// Refuses a bound that would always or never ring, naming the field.
    public static func check(bound: Double?) throws {
        if let value = bound, !(value.isFinite && value >= 0 && value < 1) {
            throw LabelingError("field 'alarmRewardHumanGap' must be 0 (off) or a share below 1 (the reward model's share of a policy's judged pairs above what people's verdicts allow), not \(value)")
        }
    }

    /// One policy's standing: people's verdicts and its reward model's on the same pairs.
    public struct Standing: Sendable, Equatable {
        public let verdicts: Int
        public let humanShare: Double
        public let humanUpper: Double
        public let rewardModelShare: Double
    }

    /// The standing of `policyID` over `verdicts` (those its reward model scored both answers of).
    public static func standing(policyID: Int, verdicts: [EvaluationVerdict], rewards: [Int: Double]) -> Standing? {
        var (count, human, model) = (0, 0.0, 0.0)
        for verdict in verdicts where verdict.leftModelID == policyID || verdict.rightModelID == policyID {
            guard let left = rewards[verdict.leftAnswerID], let right = rewards[verdict.rightAnswerID] else { continue }
            let policyIsLeft = verdict.leftModelID == policyID
            count += 1
            switch verdict.preference {
            case .tie: human += 0.5
            case .left: human += policyIsLeft ? 1 : 0
            case .right: human += policyIsLeft ? 0 : 1
            }
            let (own, other) = policyIsLeft ? (left, right) : (right, left)
            model += own > other ? 1 : own == other ? 0.5 : 0
        }
        guard count > 0 else { return nil }
        let (_, upper) = EvaluationResults.wilsonInterval(successes: human, trials: Double(count))
        return Standing(verdicts: count, humanShare: human / Double(count), humanUpper: upper, rewardModelShare: model / Double(count))
    }

    /// Checks the policies of evaluation pair `pairID` after a verdict on it; returns the alarms
    /// it raised (each new, with the id of the job it was raised on).
    @discardableResult
    public static func afterVerdict(pairID: Int, in database: Database) throws -> [(jobID: Int, alarm: RewardHackingAlarm)] {
        guard let pair = try database.queryOne("""
            SELECT e.project_id, l.model_version_id AS left_model, r.model_version_id AS right_model, p.alarm_reward_human_gap AS gap
            FROM evaluation_pairs e JOIN evaluation_answers l ON l.id = e.left_answer_id JOIN evaluation_answers r ON r.id = e.right_answer_id
            JOIN projects p ON p.id = e.project_id WHERE e.id = ?
            """, [pairID]) else { return [] }
        let gap = try pair.double("gap")
        guard gap > 0 else { return [] }
        let projectID = try pair.int("project_id")
        var raised: [(jobID: Int, alarm: RewardHackingAlarm)] = []
        var verdicts: [EvaluationVerdict]?
        for policyID in Set([try pair.int("left_model"), try pair.int("right_model")]) {
            // The job that made the policy, and the reward model it optimized against.
            guard let made = try database.queryOne("""
                SELECT j.id, j.reward_model_id FROM model_versions v JOIN jobs j ON j.id = v.job_id
                WHERE v.id = ? AND j.kind IN ('rloo', 'grpo', 'ppo') AND j.reward_model_id IS NOT NULL
                """, [policyID]) else { continue }
            let (jobID, rewardModelID) = (try made.int("id"), try made.int("reward_model_id"))
            if verdicts == nil { verdicts = try EvaluationRepository().verdicts(projectID: projectID, in: database) }
            let rewards = try EvaluationRepository().rewards(projectID: projectID, in: database)[rewardModelID] ?? [:]
            guard let standing = standing(policyID: policyID, verdicts: verdicts!, rewards: rewards), standing.verdicts >= minimumVerdicts,
                  standing.rewardModelShare > standing.humanUpper + gap else { continue }
            let alarm = RewardHackingAlarm(kind: .humanEvaluation, step: standing.verdicts, value: standing.rewardModelShare,
                                           bound: min(1, standing.humanUpper + gap), baseline: standing.humanShare)
            if try JobAlarmRepository().raise(alarm, jobID: jobID, in: database) {
                try JobRepository().log(jobID: jobID, "Reward-hacking alarm: " + alarm.message, in: database)
                raised.append((jobID, alarm))
            }
        }
        return raised
    }
}
