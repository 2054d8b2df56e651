import Foundation

/// An applicant's answer to one screening item; which fields it holds depends on the item's kind.
public struct ScreeningAnswer: Sendable, Equatable, Codable {
    public let itemId: Int
    /// Flagging: a list of flags per candidate, in the item's order.
    public var flags: [[String]]?
    /// Ranking: ranks aligned with the candidates (1 is best, equal ranks tie).
    public var ranks: [Int]?
    /// Ranking: ratings from 1 to 7 aligned with the candidates (optional, not scored).
    public var ratings: [Int]?
    /// Demonstration: the response written.
    public var text: String?
    /// Self-assessment: from 1 (not at all) to 7 (very well).
    public var value: Int?

    public init(itemId: Int, flags: [[String]]? = nil, ranks: [Int]? = nil, ratings: [Int]? = nil, text: String? = nil, value: Int? = nil) {
        (self.itemId, self.flags, self.ranks, self.ratings, self.text, self.value) = (itemId, flags, ranks, ratings, text, value)
    }
}

/// An applicant's scores on each criterion, against the test's pass marks (Docs/quality.md
/// gives the formulas). A criterion the test has no items for has no score and no verdict.
public struct ScreeningScores: Sendable, Equatable, Encodable {
    /// The share of flagging outputs whose flags the applicant chose exactly as the gold did.
    /// Counting each output once (rather than each output-and-flag decision) keeps an applicant
    /// who flags nothing from scoring high on a test where most flags are absent.
    public let flagAgreement: Double?
    public let flagOutputs: Int
    /// Pairwise agreement with the gold rankings, pooled over the ranking items' pairs.
    public let rankingAgreement: Double?
    public let rankingPairs: Int
    /// Mean admin grade (1 to 7) of the demonstrations graded so far.
    public let demonstrationGrade: Double?
    public let demonstrationsGraded: Int
    public let demonstrationsAwaitingGrade: Int
    /// Mean self-assessment (1 to 7); reported to the admin, never a pass mark.
    public let selfAssessment: Double?
    public let passesFlagging: Bool?
    public let passesRanking: Bool?
    public let passesDemonstrations: Bool?
    /// Every scored criterion meets its mark; nil until the attempt is submitted and fully graded.
    public let meetsThresholds: Bool?

    /// Scores the answers (by item id) and demonstration grades (by item id) against `test`.
    public static func compute(test: ScreeningTest, answers: [Int: ScreeningAnswer], grades: [Int: Int], submitted: Bool) -> ScreeningScores {
        var flagAgreeing = 0, flagOutputs = 0, rankingAgreeing = 0, rankingPairs = 0
        var gradeSum = 0, graded = 0, awaiting = 0, selfSum = 0, selfCount = 0
        var hasFlagging = false, hasRanking = false, hasDemonstrations = false
        for item in test.items {
            let answer = answers[item.id]
            switch item.kind {
            case .flagging:
                hasFlagging = true
                guard let gold = item.goldFlags, let given = answer?.flags else { continue }
                for (goldFlags, givenFlags) in zip(gold, given) {
                    flagOutputs += 1
                    if Set(goldFlags) == Set(givenFlags) { flagAgreeing += 1 }
                }
            case .ranking:
                hasRanking = true
                guard let gold = item.goldRanks, let given = answer?.ranks else { continue }
                let byIndex = { (ranks: [Int]) in Dictionary(uniqueKeysWithValues: ranks.enumerated().map { ($0.offset, $0.element) }) }
                let (agreeing, pairs) = Agreement.pairwise(byIndex(gold), byIndex(given))
                rankingAgreeing += agreeing
                rankingPairs += pairs
            case .demonstration:
                hasDemonstrations = true
                if let grade = grades[item.id] {
                    gradeSum += grade
                    graded += 1
                } else if answer != nil {
                    awaiting += 1
                }
            case .selfAssessment:
                if let value = answer?.value { selfSum += value; selfCount += 1 }
            }
        }
        let flagAgreement = flagOutputs > 0 ? Double(flagAgreeing) / Double(flagOutputs) : nil
        let rankingAgreement = rankingPairs > 0 ? Double(rankingAgreeing) / Double(rankingPairs) : nil
        let demonstrationGrade = graded > 0 ? Double(gradeSum) / Double(graded) : nil
        let passesFlagging = hasFlagging ? flagAgreement.map { $0 >= test.flagThreshold } : nil
        let passesRanking = hasRanking ? rankingAgreement.map { $0 >= test.rankingThreshold } : nil
        let passesDemonstrations = hasDemonstrations && awaiting == 0 ? demonstrationGrade.map { $0 >= test.demonstrationThreshold } : nil
        let verdicts = [(hasFlagging, passesFlagging), (hasRanking, passesRanking), (hasDemonstrations, passesDemonstrations)].filter(\.0).map(\.1)
        let meetsThresholds = submitted && verdicts.allSatisfy({ $0 != nil }) ? verdicts.allSatisfy { $0 == true } : nil
        return ScreeningScores(
            flagAgreement: flagAgreement, flagOutputs: flagOutputs, rankingAgreement: rankingAgreement, rankingPairs: rankingPairs,
            demonstrationGrade: demonstrationGrade, demonstrationsGraded: graded, demonstrationsAwaitingGrade: awaiting,
            selfAssessment: selfCount > 0 ? Double(selfSum) / Double(selfCount) : nil,
            passesFlagging: passesFlagging, passesRanking: passesRanking, passesDemonstrations: passesDemonstrations,
            meetsThresholds: meetsThresholds)
    }
}
