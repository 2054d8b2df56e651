import Storage

/// A project's labeling day by day, for the researcher's charts: how much was labeled, by how
/// many labelers, how fast, how well labelers agreed and how well they matched the gold
/// rankings. Days are UTC; only rankings in force count (a corrected ranking is replaced).
public struct LabelingTrends: Sendable, Encodable {
    public struct Day: Sendable, Encodable, Equatable {
        public let day: String
        public let rankings: Int
        public let demonstrations: Int
        /// Labelers who ranked or wrote a demonstration that day.
        public let labelers: Int
        /// The median seconds labelers spent on a ranking that day (nil without timings).
        public let medianSecondsPerRanking: Double?
        /// Pairwise agreement of the rankings of one prompt, each pair counted on the day of its
        /// later ranking: the share of candidate pairs both order alike, over `agreementPairs`.
        public let agreement: Double?
        public let agreementPairs: Int
        /// The same against the gold rankings, for that day's rankings of gold prompts.
        public let goldAgreement: Double?
        public let goldPairs: Int
    }

    public let days: [Day]

    public static func compute(projectID: Int, in database: Database) throws -> LabelingTrends? {
        guard try ProjectRepository().find(id: projectID, in: database) != nil else { return nil }
        struct Counts {
            var rankings = 0, demonstrations = 0, labelers = Set<Int>(), seconds: [Double] = []
            var agreeing = 0, pairs = 0, goldAgreeing = 0, goldPairs = 0
        }
        var byDay: [String: Counts] = [:]
        var rankingsByPrompt: [Int: [StoredRanking]] = [:]
        let goldRanks = try GoldAnswerRepository().ranks(projectID: projectID, in: database)
        try RankingRepository().forEachRanking(projectID: projectID, in: database) { ranking in
            let day = String(ranking.submittedAt.prefix(10))
            byDay[day, default: Counts()].rankings += 1
            byDay[day, default: Counts()].labelers.insert(ranking.labelerID)
            if let seconds = ranking.secondsSpent { byDay[day, default: Counts()].seconds.append(seconds) }
            let ranks = Dictionary(uniqueKeysWithValues: ranking.entries.map { ($0.candidateID, $0.rank) })
            if let gold = goldRanks[ranking.promptID] {
                let (agreeing, pairs) = Agreement.pairwise(gold, ranks)
                byDay[day, default: Counts()].goldAgreeing += agreeing
                byDay[day, default: Counts()].goldPairs += pairs
            }
            // Rankings come in id order, so every earlier ranking of the prompt is already here.
            for earlier in rankingsByPrompt[ranking.promptID] ?? [] {
                let (agreeing, pairs) = Agreement.pairwise(Dictionary(uniqueKeysWithValues: earlier.entries.map { ($0.candidateID, $0.rank) }), ranks)
                byDay[day, default: Counts()].agreeing += agreeing
                byDay[day, default: Counts()].pairs += pairs
            }
            rankingsByPrompt[ranking.promptID, default: []].append(ranking)
        }
        for row in try database.query("""
            SELECT substr(d.submitted_at, 1, 10) AS day, d.labeler_id FROM current_demonstrations d JOIN prompts p ON p.id = d.prompt_id WHERE p.project_id = ?
            """, [projectID]) {
            let day = try row.string("day")
            byDay[day, default: Counts()].demonstrations += 1
            byDay[day, default: Counts()].labelers.insert(try row.int("labeler_id"))
        }
        func share(_ agreeing: Int, _ pairs: Int) -> Double? { pairs > 0 ? Double(agreeing) / Double(pairs) : nil }
        return LabelingTrends(days: byDay.keys.sorted().map { day in
            let counts = byDay[day]!
            let seconds = counts.seconds.sorted()
            let median = seconds.isEmpty ? nil : seconds.count % 2 == 1 ? seconds[seconds.count / 2]
                : (seconds[seconds.count / 2 - 1] + seconds[seconds.count / 2]) / 2
            return Day(day: day, rankings: counts.rankings, demonstrations: counts.demonstrations, labelers: counts.labelers.count,
                       medianSecondsPerRanking: median, agreement: share(counts.agreeing, counts.pairs), agreementPairs: counts.pairs,
                       goldAgreement: share(counts.goldAgreeing, counts.goldPairs), goldPairs: counts.goldPairs)
        })
    }
}
