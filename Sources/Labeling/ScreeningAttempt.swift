import Foundation
import JSON
import Storage

/// An applicant's attempt at a screening test, with their answers and the admin's decision.
public struct ScreeningAttempt: Sendable, Equatable, Encodable {
    public let id: Int
    public let testId: Int
    public let applicantId: Int
    public let startedAt: String
    public let submittedAt: String?
    public let decision: String?
    public let decisionNote: String?
    public let decidedAt: String?

    init(row: Row) throws {
        id = try row.int("id")
        testId = try row.int("test_id")
        applicantId = try row.int("applicant_id")
        startedAt = try row.string("started_at")
        submittedAt = row.optionalString("submitted_at")
        decision = row.optionalString("decision")
        decisionNote = row.optionalString("decision_note")
        decidedAt = row.optionalString("decided_at")
    }
}

/// A demonstration written in a screening attempt, as the grader sees it: blind (no applicant
/// name), with the item's reference response.
public struct DemonstrationToGrade: Sendable, Encodable {
    public let attemptId: Int
    public let itemId: Int
    public let position: Int
    public let prompt: String
    public let referenceResponse: String?
    public let response: String
    public let grade: Int?
    public let gradeNote: String?
    public let submittedAt: String
}

/// A grade an admin gives one demonstration.
public struct DemonstrationGrade: Sendable, Decodable {
    public let itemId: Int
    public let grade: Int
    public let note: String?
    public init(itemId: Int, grade: Int, note: String? = nil) { (self.itemId, self.grade, self.note) = (itemId, grade, note) }
}

/// A row of the admins' applicants table: the applicant, their attempt and every score.
public struct ApplicantSummary: Sendable, Encodable {
    public let user: User
    public let attempt: ScreeningAttempt?
    public let testName: String?
    public let scores: ScreeningScores?
}

/// Screening attempts: starting, submitting answers (all or nothing), grading demonstrations,
/// deciding on applicants, and the applicants table.
public struct ScreeningAttemptRepository: Sendable {
    public static let maximumResponseCharacters = 100_000
    private static let columns = "id, test_id, applicant_id, started_at, submitted_at, decision, decision_note, decided_at"

    public init() {}

    /// The applicant's attempt at the test, started now if they had none.
    public func start(testID: Int, applicantID: Int, in database: Database) throws -> ScreeningAttempt {
        try database.execute("INSERT INTO screening_attempts (test_id, applicant_id) VALUES (?, ?) ON CONFLICT DO NOTHING", [testID, applicantID])
        return try database.queryOne("SELECT \(Self.columns) FROM screening_attempts WHERE test_id = ? AND applicant_id = ?", [testID, applicantID])
            .map(ScreeningAttempt.init(row:))!
    }

    /// The applicant's latest attempt, if any.
    public func latest(applicantID: Int, in database: Database) throws -> ScreeningAttempt? {
        try database.queryOne("SELECT \(Self.columns) FROM screening_attempts WHERE applicant_id = ? ORDER BY id DESC LIMIT 1", [applicantID])
            .map(ScreeningAttempt.init(row:))
    }

    /// Stores every answer of the attempt and marks it submitted. Each item of the test must be
    /// answered exactly once and each answer must fit its item; otherwise nothing is stored and
    /// the error names the answer and field (`answers[2].ranks`).
    public func submit(_ answers: [ScreeningAnswer], attempt: ScreeningAttempt, test: ScreeningTest, in database: Database) throws {
        guard attempt.submittedAt == nil else { throw LabelingError("the screening test was submitted already", kind: .conflict) }
        let items = Dictionary(uniqueKeysWithValues: test.items.map { ($0.id, $0) })
        var answered = Set<Int>()
        for (index, answer) in answers.enumerated() {
            let path = "answers[\(index)]"
            guard let item = items[answer.itemId] else { throw LabelingError("field '\(path).itemId': item \(answer.itemId) is not part of this test") }
            guard answered.insert(answer.itemId).inserted else { throw LabelingError("field '\(path).itemId': item \(answer.itemId) is answered twice") }
            try Self.check(answer, for: item, flags: Set(test.flags), at: path)
        }
        if let missing = test.items.first(where: { !answered.contains($0.id) }) {
            throw LabelingError("field 'answers' lacks an answer to item \(missing.position) (id \(missing.id)); every item must be answered")
        }
        for answer in answers {
            try database.execute("INSERT INTO screening_responses (attempt_id, item_id, answer) VALUES (?, ?, ?)",
                                 [attempt.id, answer.itemId, String(decoding: try JSONValueEncoder().encode(answer), as: UTF8.self)])
        }
        try database.execute("UPDATE screening_attempts SET submitted_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?", [attempt.id])
    }

    private static func check(_ answer: ScreeningAnswer, for item: ScreeningItem, flags: Set<String>, at path: String) throws {
        let count = item.candidates.count
        switch item.kind {
        case .flagging:
            guard let given = answer.flags, given.count == count else {
                throw LabelingError("field '\(path).flags' must give a list of flags (maybe empty) for each of the \(count) outputs of item \(item.position)")
            }
            for (index, list) in given.enumerated() {
                if let unknown = list.first(where: { !flags.contains($0) }) {
                    throw LabelingError("field '\(path).flags[\(index)]' holds '\(unknown)', which is not one of the test's flags")
                }
                guard Set(list).count == list.count else { throw LabelingError("field '\(path).flags[\(index)]' names a flag twice") }
            }
        case .ranking:
            guard let ranks = answer.ranks, ranks.count == count else {
                throw LabelingError("field '\(path).ranks' must give a rank to each of the \(count) outputs of item \(item.position)")
            }
            guard ranks.allSatisfy({ (1...count).contains($0) }), ranks.contains(1) else {
                throw LabelingError("field '\(path).ranks' must hold ranks from 1 to \(count), with some rank 1")
            }
            if let ratings = answer.ratings {
                guard ratings.count == count, ratings.allSatisfy({ (1...7).contains($0) }) else {
                    throw LabelingError("field '\(path).ratings' must give each of the \(count) outputs a rating from 1 to 7")
                }
            }
        case .demonstration:
            let text = answer.text?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard !text.isEmpty, text.count <= maximumResponseCharacters else {
                throw LabelingError("field '\(path).text' must hold the response to item \(item.position), 1 to \(maximumResponseCharacters) characters")
            }
        case .selfAssessment:
            guard let value = answer.value, (1...7).contains(value) else {
                throw LabelingError("field '\(path).value' must be from 1 to 7 for item \(item.position)")
            }
        }
    }

    /// The applicant's answers by item id, and the demonstration grades by item id.
    public func responses(attemptID: Int, in database: Database) throws -> (answers: [Int: ScreeningAnswer], grades: [Int: Int]) {
        var answers: [Int: ScreeningAnswer] = [:], grades: [Int: Int] = [:]
        for row in try database.query("SELECT item_id, answer, grade FROM screening_responses WHERE attempt_id = ?", [attemptID]) {
            let itemID = try row.int("item_id")
            answers[itemID] = try JSONValueDecoder().decode(ScreeningAnswer.self, from: Array(try row.string("answer").utf8))
            if let grade = row.optionalInt("grade") { grades[itemID] = grade }
        }
        return (answers, grades)
    }

    /// The submitted demonstrations of undecided attempts, ungraded first: the grading screen.
    public func demonstrationsToGrade(includeGraded: Bool, in database: Database) throws -> [DemonstrationToGrade] {
        try database.query("""
            SELECT r.attempt_id, r.item_id, i.position, i.prompt, i.reference_response, r.answer, r.grade, r.grade_note, a.submitted_at
            FROM screening_responses r
            JOIN screening_items i ON i.id = r.item_id
            JOIN screening_attempts a ON a.id = r.attempt_id
            WHERE i.kind = 'demonstration' AND a.submitted_at IS NOT NULL AND a.decision IS NULL AND (? OR r.grade IS NULL)
            ORDER BY r.grade IS NOT NULL, a.submitted_at, r.attempt_id, i.position
            """, [includeGraded ? 1 : 0]).map { row in
            let answer = try JSONValueDecoder().decode(ScreeningAnswer.self, from: Array(try row.string("answer").utf8))
            return DemonstrationToGrade(attemptId: try row.int("attempt_id"), itemId: try row.int("item_id"), position: try row.int("position"),
                                        prompt: try row.string("prompt"), referenceResponse: row.optionalString("reference_response"),
                                        response: answer.text ?? "", grade: row.optionalInt("grade"), gradeNote: row.optionalString("grade_note"),
                                        submittedAt: try row.string("submitted_at"))
        }
    }

    /// Grades demonstrations of one submitted, undecided attempt (a regrade replaces the grade).
    public func grade(attemptID: Int, _ grades: [DemonstrationGrade], gradedBy: Int, in database: Database) throws {
        guard let attempt = try database.queryOne("SELECT \(Self.columns) FROM screening_attempts WHERE id = ?", [attemptID]).map(ScreeningAttempt.init(row:)) else {
            throw LabelingError("there is no screening attempt \(attemptID)", kind: .notFound)
        }
        guard attempt.submittedAt != nil else { throw LabelingError("screening attempt \(attemptID) is not submitted yet", kind: .conflict) }
        guard attempt.decision == nil else { throw LabelingError("the applicant of attempt \(attemptID) is \(attempt.decision!) already", kind: .conflict) }
        guard !grades.isEmpty else { throw LabelingError("field 'grades' must hold at least one grade") }
        for (index, grade) in grades.enumerated() {
            guard (1...7).contains(grade.grade) else { throw LabelingError("field 'grades[\(index)].grade' must be from 1 to 7, not \(grade.grade)") }
            guard (grade.note ?? "").count <= 2000 else { throw LabelingError("field 'grades[\(index)].note' must have at most 2000 characters") }
            try database.execute("""
                UPDATE screening_responses SET grade = ?, grade_note = ?, graded_by = ?, graded_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                WHERE attempt_id = ? AND item_id = ? AND item_id IN (SELECT id FROM screening_items WHERE kind = 'demonstration')
                """, [grade.grade, grade.note, gradedBy, attemptID, grade.itemId])
            guard database.changes == 1 else {
                throw LabelingError("field 'grades[\(index)].itemId': attempt \(attemptID) has no demonstration for item \(grade.itemId)")
            }
        }
    }

    /// The scores of an attempt against its test.
    public func scores(_ attempt: ScreeningAttempt, test: ScreeningTest, in database: Database) throws -> ScreeningScores {
        let (answers, grades) = try responses(attemptID: attempt.id, in: database)
        return ScreeningScores.compute(test: test, answers: answers, grades: grades, submitted: attempt.submittedAt != nil)
    }

    /// Records the admin's decision on an applicant's attempt. Accepting needs a submitted,
    /// fully graded attempt; rejecting is always possible (an applicant who never takes the test
    /// can be turned away). The caller changes the user's status and audits the decision.
    public func decide(applicantID: Int, accepted: Bool, note: String, decidedBy: Int, in database: Database) throws {
        let attempt = try latest(applicantID: applicantID, in: database)
        if accepted {
            guard let attempt, attempt.submittedAt != nil else {
                throw LabelingError("applicant \(applicantID) has not submitted a screening test; only rejecting is possible", kind: .conflict)
            }
            guard let test = try ScreeningTestRepository().find(id: attempt.testId, in: database) else {
                throw LabelingError("the applicant's screening test is gone", kind: .notFound)
            }
            let pending = try scores(attempt, test: test, in: database).demonstrationsAwaitingGrade
            guard pending == 0 else {
                throw LabelingError("applicant \(applicantID) has \(pending) demonstration(s) awaiting a grade; grade them first", kind: .conflict)
            }
        }
        guard let attempt else { return }
        try database.execute("""
            UPDATE screening_attempts SET decision = ?, decision_note = ?, decided_by = ?, decided_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            WHERE id = ? AND submitted_at IS NOT NULL
            """, [accepted ? "accepted" : "rejected", note, decidedBy, attempt.id])
    }

    /// Every labeler who applied (still an applicant, or screened by an attempt), newest first,
    /// with their latest attempt and its scores.
    public func applicants(in database: Database) throws -> [ApplicantSummary] {
        let users = UserRepository(), tests = ScreeningTestRepository()
        var testsByID: [Int: ScreeningTest] = [:]
        return try database.query("""
            SELECT id FROM users u WHERE u.role = 'labeler'
              AND (u.status = 'applicant' OR EXISTS (SELECT 1 FROM screening_attempts a WHERE a.applicant_id = u.id))
            ORDER BY u.id DESC
            """).compactMap { row in
            guard let user = try users.find(id: try row.int("id"), in: database) else { return nil }
            guard let attempt = try latest(applicantID: user.id, in: database) else {
                return ApplicantSummary(user: user, attempt: nil, testName: nil, scores: nil)
            }
            if testsByID[attempt.testId] == nil { testsByID[attempt.testId] = try tests.find(id: attempt.testId, in: database) }
            guard let test = testsByID[attempt.testId] else { return ApplicantSummary(user: user, attempt: attempt, testName: nil, scores: nil) }
            return ApplicantSummary(user: user, attempt: attempt, testName: test.name, scores: try scores(attempt, test: test, in: database))
        }
    }
}
