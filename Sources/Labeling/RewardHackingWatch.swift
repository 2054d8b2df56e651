import Foundation
import Storage

/// The bounds a project sets on its policy jobs (RLOO, GRPO, PPO); 0 turns one off.
public struct RewardHackingBounds: Sendable, Equatable, Codable {
    /// The KL to the reference per answer, in nats.
    public var klPerAnswer: Double
    /// The mean answer length as a multiple of the starting policy's (above 1).
    public var lengthRatio: Double
    /// The entropy per token as a share of the starting policy's (below 1).
    public var entropyFraction: Double
    /// Whether an alarm also pauses the job.
    public var pausesJob: Bool

    public init(klPerAnswer: Double = 0, lengthRatio: Double = 0, entropyFraction: Double = 0, pausesJob: Bool = false) {
        (self.klPerAnswer, self.lengthRatio, self.entropyFraction, self.pausesJob) = (klPerAnswer, lengthRatio, entropyFraction, pausesJob)
    }

    public var isOff: Bool { klPerAnswer == 0 && lengthRatio == 0 && entropyFraction == 0 }

    /// Refuses a bound that could never or would always ring, naming the field.
    public static func check(klPerAnswer: Double?, lengthRatio: Double?, entropyFraction: Double?) throws {
        if let value = klPerAnswer, !(value.isFinite && value >= 0 && value <= 10_000) {
            throw LabelingError("field 'alarmKlPerAnswer' must be 0 (off) or a KL in nats up to 10000, not \(value)")
        }
        if let value = lengthRatio, !(value == 0 || (value.isFinite && value > 1 && value <= 1000)) {
            throw LabelingError("field 'alarmLengthRatio' must be 0 (off) or a multiple of the starting length above 1, not \(value)")
        }
        if let value = entropyFraction, !(value.isFinite && value >= 0 && value < 1) {
            throw LabelingError("field 'alarmEntropyFraction' must be 0 (off) or a share of the starting entropy below 1, not \(value)")
        }
    }
}

/// One bound a policy job crossed: at which iteration, how far, against what.
public struct RewardHackingAlarm: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case kl, length, entropy
        /// The reward model against human evaluation (`RewardHumanGapWatch`).
        case humanEvaluation = "human_evaluation"
    }
    public let kind: Kind
    public let step: Int
    public let value: Double
    public let bound: Double
    /// The starting policy's value the bound is relative to (nil for the KL).
    public let baseline: Double?

    /// What the alarm says, in the job's log and on the dashboard.
    public var message: String {
        switch kind {
        case .kl:
            return String(format: "KL to the reference %.2f nats per answer at step %d, above the project's bound of %.2f: the policy is leaving the SFT model (the reward model may be exploited).", value, step, bound)
        case .length:
            return String(format: "Mean answer length %.1f tokens at step %d, above %.1f (%.2fx the starting policy's %.1f): answers may be growing to please the reward model.", value, step, bound, bound / (baseline ?? 1), baseline ?? 0)
        case .entropy:
            return String(format: "Entropy %.3f nats per token at step %d, below %.3f (a share of the starting policy's %.3f): the policy may be collapsing onto a few answers.", value, step, bound, baseline ?? 0)
        case .humanEvaluation:
            return String(format: "The reward model prefers this policy's answers in %.0f%% of the %d evaluation pairs people judged, people in %.0f%%: above the %.0f%% their verdicts allow with the project's gap. The policy may be exploiting the reward model.",
                          100 * value, step, 100 * (baseline ?? 0), 100 * bound)
        }
    }
}

/// Checks a policy job's iteration against the project's bounds, the starting policy's values
/// (the first iteration's answers are the SFT policy's own) as the baseline.
public enum RewardHackingWatch {
    /// The metric names each check reads: TRL's names as the policy trainers report them
    /// (`entropy` from RLOO and GRPO, `policy/entropy_avg` from PPO).
    static let klName = "kl_per_answer", lengthName = "answer_length", entropyNames = ["entropy", "policy/entropy_avg"]

    /// The metrics of the starting policy, taken from a job's first training report.
    public static func baseline(of metrics: [String: Double]) -> [String: Double] {
        metrics.filter { $0.key == lengthName || entropyNames.contains($0.key) }
    }

    /// The bounds this iteration crossed.
    public static func alarms(step: Int, metrics: [String: Double], baseline: [String: Double], bounds: RewardHackingBounds) -> [RewardHackingAlarm] {
        var alarms: [RewardHackingAlarm] = []
        if bounds.klPerAnswer > 0, let kl = metrics[klName], kl > bounds.klPerAnswer {
            alarms.append(RewardHackingAlarm(kind: .kl, step: step, value: kl, bound: bounds.klPerAnswer, baseline: nil))
        }
        if bounds.lengthRatio > 0, let length = metrics[lengthName], let start = baseline[lengthName], start > 0, length > start * bounds.lengthRatio {
            alarms.append(RewardHackingAlarm(kind: .length, step: step, value: length, bound: start * bounds.lengthRatio, baseline: start))
        }
        if bounds.entropyFraction > 0, let name = entropyNames.first(where: { metrics[$0] != nil }), let entropy = metrics[name], let start = baseline[name],
           start > 0, entropy < start * bounds.entropyFraction {
            alarms.append(RewardHackingAlarm(kind: .entropy, step: step, value: entropy, bound: start * bounds.entropyFraction, baseline: start))
        }
        return alarms
    }
}

/// The alarms jobs raised, one per job and kind.
public struct JobAlarmRepository: Sendable {
    public init() {}

    /// Stores the alarm unless the job raised one of its kind already; says whether it is new.
    @discardableResult
    public func raise(_ alarm: RewardHackingAlarm, jobID: Int, in database: Database) throws -> Bool {
        try database.execute("INSERT OR IGNORE INTO job_alarms (job_id, kind, step, value, bound, baseline) VALUES (?, ?, ?, ?, ?, ?)",
                             [jobID, alarm.kind.rawValue, alarm.step, alarm.value, alarm.bound, alarm.baseline])
        return database.changes > 0
    }

    public func alarms(jobID: Int, in database: Database) throws -> [RewardHackingAlarm] {
        try database.query("SELECT kind, step, value, bound, baseline FROM job_alarms WHERE job_id = ? ORDER BY id", [jobID]).map {
            guard let kind = RewardHackingAlarm.Kind(rawValue: try $0.string("kind")) else { throw LabelingError("job \(jobID) has an alarm of an unknown kind") }
            return RewardHackingAlarm(kind: kind, step: try $0.int("step"), value: try $0.double("value"), bound: try $0.double("bound"), baseline: $0.optionalDouble("baseline"))
        }
    }

    /// The first training report's metrics of a job (its starting policy's values), if any.
    public func firstReport(jobID: Int, in database: Database) throws -> [String: Double] {
        Dictionary(uniqueKeysWithValues: try database.query("""
            SELECT name, value FROM job_metrics WHERE job_id = ?1 AND phase = 'train'
              AND step = (SELECT min(step) FROM job_metrics WHERE job_id = ?1 AND phase = 'train')
            """, [jobID]).map { (try $0.string("name"), try $0.double("value")) })
    }
}
