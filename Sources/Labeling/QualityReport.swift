import JSON
import Storage

/// How well a project's labelers agree, and how each one works: InstructGPT's pairwise
/// agreement rate with bootstrap intervals (overall, within the training labelers, within the
/// held-out labelers, between the groups, per labeler), Kendall's tau between rankings,
/// Krippendorff's alpha for the ratings and for each flag, position bias and time per task.
/// Labelers whose agreement falls below the review threshold are marked for review.
/// Docs/quality.md gives the formulas.
public struct QualityReport: Sendable, Encodable {
    /// An agreement rate with its bootstrap 95% interval and the counts behind it.
    public struct Rate: Sendable, Encodable, Equatable {
        public let estimate: Double
        public let lower: Double
        public let upper: Double
        public let agreeingPairs: Int
        public let pairs: Int
        /// Prompts labeled by at least two of the labelers counted.
        public let prompts: Int

        init?(_ byPrompt: [Int: (agreeing: Int, pairs: Int)], resamples: Int) {
            let groups = byPrompt.keys.sorted().map { (numerator: byPrompt[$0]!.agreeing, denominator: byPrompt[$0]!.pairs) }
            guard let (estimate, lower, upper) = Agreement.bootstrapRatio(groups, resamples: resamples) else { return nil }
            (self.estimate, self.lower, self.upper) = (estimate, lower, upper)
            agreeingPairs = groups.reduce(0) { $0 + $1.numerator }
            pairs = groups.reduce(0) { $0 + $1.denominator }
            prompts = groups.count
        }
    }

    /// How often the answer shown first was ranked first, beside what chance gives (the share
    /// of each ranking's answers ranked first, averaged).
    public struct PositionBias: Sendable, Encodable, Equatable {
        public let rankings: Int
        public let firstShownRankedFirst: Double
        public let chance: Double
    }

    public struct FlagAlpha: Sendable, Encodable, Equatable {
        public let flag: String
        public let alpha: Double?
    }

    public struct Labeler: Sendable, Encodable {
        public let labelerId: Int
        public let username: String
        public let labelerGroup: String
        public let status: String
        public let rankings: Int
        /// Agreement with every other labeler on the prompts both ranked.
        public let agreement: Rate?
        /// Mean Kendall's tau-b against the other labelers' rankings of the same prompts.
        public let kendallTau: Double?
        public let positionBias: PositionBias?
        public let averageSeconds: Double?
        /// Gold prompts this labeler ranked, and their pairwise agreement with the gold rankings.
        public let goldRankings: Int
        public let goldAgreement: Rate?
        /// Agreement measured on enough pairs and below the threshold.
        public let needsReview: Bool
        /// The share of their preferences a reward head fitted without their labels reverses
        /// confidently (after the project's latest reward job; none before one).
        public let modelCheck: LabelCheckSummary?
    }

    public let projectId: Int
    public let agreement: Rate?
    public let trainingAgreement: Rate?
    public let heldOutAgreement: Rate?
    public let betweenGroupsAgreement: Rate?
    public let kendallTau: Double?
    public let ratingAlpha: Double?
    public let flagAlpha: [FlagAlpha]
    public let labelers: [Labeler]
    public let reviewBelow: Double
    public let minimumPairs: Int
    /// Model versions that labeled the project (AI labels, kept apart), measured against people.
    public let aiLabelers: [AILabeler]

    /// Accumulates agreeing and total pairs per prompt.
    private struct Tally {
        var byPrompt: [Int: (agreeing: Int, pairs: Int)] = [:]
        var tauSum = 0.0
        var tauCount = 0
        mutating func add(prompt: Int, agreeing: Int, pairs: Int, tau: Double?) {
            let old = byPrompt[prompt] ?? (0, 0)
            byPrompt[prompt] = (old.agreeing + agreeing, old.pairs + pairs)
            if let tau {
                tauSum += tau
                tauCount += 1
            }
        }
        var meanTau: Double? { tauCount > 0 ? tauSum / Double(tauCount) : nil }
    }

    /// `resamples` is the bootstrap's; 0 gives the rates without intervals, for callers that
    /// need only the rates.
    public static func compute(projectID: Int, reviewBelow: Double = 0.6, minimumPairs: Int = 20, resamples: Int = 1000,
                               in database: Database) throws -> QualityReport? {
        guard let project = try ProjectRepository().find(id: projectID, in: database) else { return nil }
        var rankingsByPrompt: [Int: [StoredRanking]] = [:]
        var rankingsByLabeler: [Int: [StoredRanking]] = [:]
        try RankingRepository().forEachRanking(projectID: projectID, in: database) { ranking in
            rankingsByPrompt[ranking.promptID, default: []].append(ranking)
            rankingsByLabeler[ranking.labelerID, default: []].append(ranking)
        }

        var overall = Tally(), training = Tally(), heldOut = Tally(), between = Tally()
        var perLabeler: [Int: Tally] = [:]
        var ratingUnits: [[Double]] = []
        var flagUnits: [String: [[Double]]] = [:]
        for promptID in rankingsByPrompt.keys.sorted() {
            let rankings = rankingsByPrompt[promptID]!
            let ranks = rankings.map { Dictionary(uniqueKeysWithValues: $0.entries.map { ($0.candidateID, $0.rank) }) }
            for i in 0..<rankings.count {
                for j in (i + 1)..<rankings.count {
                    let (agreeing, pairs) = Agreement.pairwise(ranks[i], ranks[j])
                    guard pairs > 0 else { continue }
                    let shared = ranks[i].keys.filter { ranks[j][$0] != nil }.sorted()
                    let tau = Agreement.kendallTauB(shared.map { Double(ranks[i][$0]!) }, shared.map { Double(ranks[j][$0]!) })
                    overall.add(prompt: promptID, agreeing: agreeing, pairs: pairs, tau: tau)
                    switch (rankings[i].labelerGroup, rankings[j].labelerGroup) {
                    case ("training", "training"): training.add(prompt: promptID, agreeing: agreeing, pairs: pairs, tau: tau)
                    case ("held_out", "held_out"): heldOut.add(prompt: promptID, agreeing: agreeing, pairs: pairs, tau: tau)
                    default: between.add(prompt: promptID, agreeing: agreeing, pairs: pairs, tau: tau)
                    }
                    perLabeler[rankings[i].labelerID, default: Tally()].add(prompt: promptID, agreeing: agreeing, pairs: pairs, tau: tau)
                    perLabeler[rankings[j].labelerID, default: Tally()].add(prompt: promptID, agreeing: agreeing, pairs: pairs, tau: tau)
                }
            }
            // Krippendorff's units: each candidate of the prompt, with every labeler's value.
            let candidates = Set(rankings.flatMap { $0.entries.map(\.candidateID) }).sorted()
            for candidate in candidates {
                let entries = rankings.compactMap { ranking in ranking.entries.first { $0.candidateID == candidate } }
                ratingUnits.append(entries.compactMap { $0.rating.map(Double.init) })
                let flagSets = entries.map { Set($0.flags) }
                for flag in project.flags { flagUnits[flag, default: []].append(flagSets.map { $0.contains(flag) ? 1 : 0 }) }
            }
        }

        let goldRanks = try GoldAnswerRepository().ranks(projectID: projectID, in: database)
        let modelChecks = try LabelCheckRepository().summaries(projectID: projectID, in: database)
        let people = try database.query("SELECT id, username, labeler_group, status FROM users").reduce(into: [Int: Row]()) { $0[try $1.int("id")] = $1 }
        let labelers = try rankingsByLabeler.keys.sorted().map { labelerID -> Labeler in
            let rankings = rankingsByLabeler[labelerID]!
            let tally = perLabeler[labelerID]
            let agreement = tally.flatMap { Rate($0.byPrompt, resamples: resamples) }
            let person = people[labelerID]
            let seconds = rankings.compactMap(\.secondsSpent)
            var gold: [Int: (agreeing: Int, pairs: Int)] = [:]
            for ranking in rankings {
                guard let goldRanks = goldRanks[ranking.promptID] else { continue }
                gold[ranking.promptID] = Agreement.pairwise(goldRanks, Dictionary(uniqueKeysWithValues: ranking.entries.map { ($0.candidateID, $0.rank) }))
            }
            return Labeler(labelerId: labelerID, username: try person?.string("username") ?? "", labelerGroup: rankings[0].labelerGroup,
                           status: try person?.string("status") ?? "", rankings: rankings.count, agreement: agreement, kendallTau: tally?.meanTau,
                           positionBias: Self.positionBias(rankings),
                           averageSeconds: seconds.isEmpty ? nil : seconds.reduce(0, +) / Double(seconds.count),
                           goldRankings: gold.count, goldAgreement: Rate(gold, resamples: resamples),
                           needsReview: agreement.map { $0.pairs >= minimumPairs && $0.estimate < reviewBelow } ?? false,
                           modelCheck: modelChecks[labelerID])
        }
        return QualityReport(
            projectId: projectID, agreement: Rate(overall.byPrompt, resamples: resamples), trainingAgreement: Rate(training.byPrompt, resamples: resamples),
            heldOutAgreement: Rate(heldOut.byPrompt, resamples: resamples),
            betweenGroupsAgreement: Rate(between.byPrompt, resamples: resamples), kendallTau: overall.meanTau,
            ratingAlpha: Agreement.krippendorffAlpha(units: ratingUnits, level: .interval),
            flagAlpha: project.flags.map { FlagAlpha(flag: $0, alpha: Agreement.krippendorffAlpha(units: flagUnits[$0] ?? [], level: .nominal)) },
            labelers: labelers, reviewBelow: reviewBelow, minimumPairs: minimumPairs,
            aiLabelers: try AIRankingRepository().labelers(projectID: projectID, resamples: resamples, in: database))
    }

    /// The labelers whose agreement with others is at least `minimum` (measured on at least
    /// one pair); labelers never compared with anyone are not among them.
    public static func labelers(projectID: Int, agreementAtLeast minimum: Double, in database: Database) throws -> Set<Int> {
        guard let report = try compute(projectID: projectID, resamples: 0, in: database) else { return [] }
        return Set(report.labelers.filter { ($0.agreement?.estimate ?? -1) >= minimum }.map(\.labelerId))
    }

    static func positionBias(_ rankings: [StoredRanking]) -> PositionBias? {
        var firstRankedFirst = 0, chance = 0.0, counted = 0
        for ranking in rankings {
            guard let first = ranking.shownOrder.first, let entry = ranking.entries.first(where: { $0.candidateID == first }) else { continue }
            counted += 1
            if entry.rank == 1 { firstRankedFirst += 1 }
            chance += Double(ranking.entries.filter { $0.rank == 1 }.count) / Double(ranking.entries.count)
        }
        guard counted > 0 else { return nil }
        return PositionBias(rankings: counted, firstShownRankedFirst: Double(firstRankedFirst) / Double(counted), chance: chance / Double(counted))
    }
}
