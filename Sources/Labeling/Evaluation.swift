import Foundation
import JSON
import Storage

/// Which answer of an evaluation pair a labeler preferred.
public enum PairPreference: String, Sendable, Codable, CaseIterable {
    case left, right, tie
}

/// A labeler's verdict on an evaluation pair, as submitted.
public struct JudgmentSubmission: Sendable, Decodable {
    public let preference: String
    public let comment: String?
    public let secondsSpent: Double?

    public init(preference: String, comment: String? = nil, secondsSpent: Double? = nil) {
        (self.preference, self.comment, self.secondsSpent) = (preference, comment, secondsSpent)
    }
}

/// What a labeler is shown of a pair: the prompt and the two answers in their recorded sides,
/// never which model versions wrote them.
public struct EvaluationTask: Sendable {
    public let pairId: Int
    public let prompt: StoredPrompt
    public let left: String
    public let right: String
}

/// An answer an evaluation job wrote for a held-out prompt.
public struct NewEvaluationAnswer: Sendable {
    public let promptID: Int
    public let text: String
    public let ended: Bool

    public init(promptID: Int, text: String, ended: Bool) { (self.promptID, self.text, self.ended) = (promptID, text, ended) }
}

/// A held-out prompt an evaluation job answers.
public struct HeldOutPrompt: Sendable {
    public let id: Int
    public let content: PromptContent
}

/// An evaluation answer a reward model has not scored yet.
public struct UnscoredAnswer: Sendable {
    public let id: Int
    public let prompt: PromptContent
    public let text: String
}

/// One verdict with what the leaderboard needs: which versions wrote the left and right answers.
public struct EvaluationVerdict: Sendable, Equatable {
    public let pairID: Int
    public let leftModelID: Int
    public let rightModelID: Int
    public let leftAnswerID: Int
    public let rightAnswerID: Int
    public let preference: PairPreference
    /// Whether the labeler is in the held-out group (`labelerGroup` `held_out`).
    public let byHeldOutLabeler: Bool

    public init(pairID: Int, leftModelID: Int, rightModelID: Int, leftAnswerID: Int, rightAnswerID: Int, preference: PairPreference,
                byHeldOutLabeler: Bool = false) {
        (self.pairID, self.leftModelID, self.rightModelID, self.leftAnswerID, self.rightAnswerID, self.preference, self.byHeldOutLabeler) =
            (pairID, leftModelID, rightModelID, leftAnswerID, rightAnswerID, preference, byHeldOutLabeler)
    }
}

/// Human evaluation of model versions: their answers to the project's held-out prompts (split
/// validation or test, which no training job trains on), paired blind, the queue that hands the
/// pairs to labelers, and the verdicts. Every method that changes something runs on the writer.
public struct EvaluationRepository: Sendable {
    public init() {}

    /// The held-out prompts of the evaluation job's snapshot (the project's prompts marked
    /// validation or test when it first started) that `modelVersionID` has not answered yet, in
    /// id order: a resumed job answers only what is left.
    public func promptsToAnswer(projectID: Int, modelVersionID: Int, jobID: Int, in database: Database) throws -> [HeldOutPrompt] {
        try database.query("""
            SELECT p.id, p.kind, p.content FROM prompts p
            WHERE p.project_id = ?1 AND p.id IN (SELECT item_id FROM job_snapshot WHERE job_id = ?3 AND item_kind = 'prompt')
              AND NOT EXISTS (SELECT 1 FROM evaluation_answers a WHERE a.prompt_id = p.id AND a.model_version_id = ?2)
            ORDER BY p.id
            """, [projectID, modelVersionID, jobID]).map { row in
            HeldOutPrompt(id: try row.int("id"), content: try PromptContent.fromStorage(kind: try row.string("kind"), content: try row.string("content")))
        }
    }

    /// Stores a version's answers and pairs each with every other version's answer to the same
    /// prompt (only those of `opponents` when given) that it is not paired with yet, on sides
    /// drawn at random. Two versions that wrote the same text are not paired (a forced tie costs
    /// a labeler's time and says nothing). Returns how many pairs were made.
    @discardableResult
    public func store(_ answers: [NewEvaluationAnswer], modelVersionID: Int, jobID: Int?, projectID: Int, opponents: [Int]?,
                      in database: Database) throws -> Int {
        var pairs = 0
        for answer in answers {
            let text = answer.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { continue }
            try database.execute("""
                INSERT INTO evaluation_answers (prompt_id, model_version_id, job_id, text, ended) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (prompt_id, model_version_id) DO NOTHING
                """, [answer.promptID, modelVersionID, jobID, text, answer.ended ? 1 : 0])
            guard let answerID = try database.queryScalarInt("SELECT id FROM evaluation_answers WHERE prompt_id = ? AND model_version_id = ?",
                                                             [answer.promptID, modelVersionID]) else { continue }
            let others = try database.query("""
                SELECT o.id, o.model_version_id FROM evaluation_answers o
                WHERE o.prompt_id = ?1 AND o.model_version_id <> ?2 AND o.text <> ?3
                  AND (?4 IS NULL OR o.model_version_id IN (SELECT value FROM json_each(?4)))
                  AND NOT EXISTS (SELECT 1 FROM evaluation_pairs e JOIN evaluation_answers l ON l.id = e.left_answer_id
                                  JOIN evaluation_answers r ON r.id = e.right_answer_id
                                  WHERE e.prompt_id = ?1 AND ((l.model_version_id = ?2 AND r.model_version_id = o.model_version_id)
                                                           OR (r.model_version_id = ?2 AND l.model_version_id = o.model_version_id)))
                ORDER BY o.id
                """, [answer.promptID, modelVersionID, text, opponents.map { JSONWriter.string(.array($0.map { .integer(Int64($0)) })) }])
            for other in others {
                let otherID = try other.int("id")
                let (left, right) = Bool.random() ? (answerID, otherID) : (otherID, answerID)
                try database.execute("INSERT INTO evaluation_pairs (project_id, prompt_id, left_answer_id, right_answer_id) VALUES (?, ?, ?, ?)",
                                     [projectID, answer.promptID, left, right])
                pairs += 1
            }
        }
        return pairs
    }

    /// The answers in the project's pairs that `rewardModelID` has not scored.
    public func unscoredAnswers(projectID: Int, rewardModelID: Int, in database: Database) throws -> [UnscoredAnswer] {
        try database.query("""
            SELECT a.id, a.text, p.kind, p.content FROM evaluation_answers a JOIN prompts p ON p.id = a.prompt_id
            WHERE p.project_id = ?1 AND EXISTS (SELECT 1 FROM evaluation_pairs e WHERE e.left_answer_id = a.id OR e.right_answer_id = a.id)
              AND NOT EXISTS (SELECT 1 FROM evaluation_rewards w WHERE w.answer_id = a.id AND w.reward_model_id = ?2)
            ORDER BY a.id
            """, [projectID, rewardModelID]).map { row in
            UnscoredAnswer(id: try row.int("id"), prompt: try PromptContent.fromStorage(kind: try row.string("kind"), content: try row.string("content")),
                           text: try row.string("text"))
        }
    }

    public func storeRewards(_ rewards: [(answerID: Int, reward: Float)], rewardModelID: Int, in database: Database) throws {
        for (answerID, reward) in rewards where reward.isFinite {
            try database.execute("INSERT OR REPLACE INTO evaluation_rewards (answer_id, reward_model_id, reward) VALUES (?, ?, ?)",
                                 [answerID, rewardModelID, Double(reward)])
        }
    }

    /// The open pairs of the project for this labeler: not judged by them, and with fewer than
    /// the project's overlap of verdicts. Parameters: ?1 project, ?2 labeler, ?3 overlap.
    private static let openPairs = """
        FROM evaluation_pairs e WHERE e.project_id = ?1
          AND NOT EXISTS (SELECT 1 FROM evaluation_judgments j WHERE j.pair_id = e.id AND j.labeler_id = ?2)
          AND (SELECT count(*) FROM evaluation_judgments j WHERE j.pair_id = e.id) < ?3
        """

    /// How many pairs of the project this labeler can still judge.
    public func remaining(project: Project, labelerID: Int, in database: Database) throws -> Int {
        try database.queryScalarInt("SELECT count(*) " + Self.openPairs, [project.id, labelerID, project.overlap]) ?? 0
    }

    /// The next pair for this labeler: among the open pairs, one of those with the fewest
    /// verdicts, in an order of the labeler's own (a hash of pair and labeler: labelers working
    /// at once spread over the pairs, and asking again gives the same pair); nil when there is
    /// none.
    public func next(project: Project, labelerID: Int, in database: Database) throws -> EvaluationTask? {
        guard let row = try database.queryOne("""
            SELECT e.id, e.prompt_id, l.text AS left_text, r.text AS right_text
            FROM evaluation_pairs e JOIN evaluation_answers l ON l.id = e.left_answer_id JOIN evaluation_answers r ON r.id = e.right_answer_id
            WHERE e.id IN (SELECT e.id \(Self.openPairs))
            ORDER BY (SELECT count(*) FROM evaluation_judgments j WHERE j.pair_id = e.id), (e.id * 7919 + ?2 * 104729) % 1000003, e.id LIMIT 1
            """, [project.id, labelerID, project.overlap]) else { return nil }
        guard let prompt = try PromptRepository().find(id: try row.int("prompt_id"), in: database) else { return nil }
        return EvaluationTask(pairId: try row.int("id"), prompt: prompt, left: try row.string("left_text"), right: try row.string("right_text"))
    }

    /// Stores a labeler's verdict on a pair: one per labeler and pair. A verdict past the
    /// project's overlap (two labelers handed the same last pair at once) is kept: it only adds
    /// evidence. Returns the verdict's id.
    public func judge(pairID: Int, labelerID: Int, _ submission: JudgmentSubmission, in database: Database) throws -> Int {
        guard let preference = PairPreference(rawValue: submission.preference) else {
            throw LabelingError("field 'preference' must be left, right or tie, not '\(submission.preference)'")
        }
        let comment = (submission.comment ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        try TextLimits.check(comment, field: "comment", limit: TextLimits.comment)
        try TimeSpent.check(submission.secondsSpent)
        guard try database.queryScalarInt("SELECT count(*) FROM evaluation_pairs WHERE id = ?", [pairID]) == 1 else {
            throw LabelingError("there is no evaluation pair \(pairID)", kind: .notFound)
        }
        do {
            try database.execute("INSERT INTO evaluation_judgments (pair_id, labeler_id, preference, comment, seconds_spent) VALUES (?, ?, ?, ?, ?)",
                                 [pairID, labelerID, preference.rawValue, comment, submission.secondsSpent])
        } catch let error as DatabaseError where error.isUniqueViolation {
            throw LabelingError("you have judged evaluation pair \(pairID) already", kind: .conflict)
        }
        return Int(database.lastInsertRowID)
    }

    /// Every verdict of the project, with the versions on each side.
    public func verdicts(projectID: Int, in database: Database) throws -> [EvaluationVerdict] {
        try database.query("""
            SELECT e.id, l.model_version_id AS left_model, r.model_version_id AS right_model, l.id AS left_answer, r.id AS right_answer, j.preference,
                   u.labeler_group = 'held_out' AS held_out
            FROM evaluation_judgments j JOIN users u ON u.id = j.labeler_id JOIN evaluation_pairs e ON e.id = j.pair_id
            JOIN evaluation_answers l ON l.id = e.left_answer_id JOIN evaluation_answers r ON r.id = e.right_answer_id
            WHERE e.project_id = ? ORDER BY j.id
            """, [projectID]).map { row in
            guard let preference = PairPreference(rawValue: try row.string("preference")) else { throw StorageError("a verdict has an unknown preference") }
            return EvaluationVerdict(pairID: try row.int("id"), leftModelID: try row.int("left_model"), rightModelID: try row.int("right_model"),
                                     leftAnswerID: try row.int("left_answer"), rightAnswerID: try row.int("right_answer"), preference: preference,
                                     byHeldOutLabeler: try row.int("held_out") == 1)
        }
    }

    /// Each reward model's scores of the project's evaluation answers: model id to answer id to reward.
    public func rewards(projectID: Int, in database: Database) throws -> [Int: [Int: Double]] {
        var scores: [Int: [Int: Double]] = [:]
        for row in try database.query("""
            SELECT w.reward_model_id, w.answer_id, w.reward FROM evaluation_rewards w JOIN evaluation_answers a ON a.id = w.answer_id
            JOIN prompts p ON p.id = a.prompt_id WHERE p.project_id = ?
            """, [projectID]) {
            scores[try row.int("reward_model_id"), default: [:]][try row.int("answer_id")] = try row.double("reward")
        }
        return scores
    }

    /// How many pairs the project holds.
    public func pairCount(projectID: Int, in database: Database) throws -> Int {
        try database.queryScalarInt("SELECT count(*) FROM evaluation_pairs WHERE project_id = ?", [projectID]) ?? 0
    }
}
