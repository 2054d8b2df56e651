import Foundation
import JSON
import Storage

/// How a project's ranking tasks ask for a preference.
public enum ComparisonStyle: String, Sendable, Codable, CaseIterable {
    /// InstructGPT's screen: rate each of K answers, flag them, and rank them all (ties allowed).
    case rateAndRank = "rate-and-rank"
    /// Anthropic's HH-RLHF screen: two answers side by side on an 8-point scale from "A is much
    /// better" to "B is much better"; stored as a ranking of two with its strength, no ratings.
    case gradedPair = "graded-pair"
}

/// The order a project's ranking queue hands out prompts in.
public enum QueueOrder: String, Sendable, Codable, CaseIterable {
    /// The order the prompts were imported in.
    case `import`
    /// Active selection: the prompts whose candidates the latest reward model scores closest
    /// together first (uncertainty sampling), a `randomShare` of tasks drawn at random.
    case uncertainty
}

/// A labeling project: the guidelines labelers see, the ranking size, the overlap, the rating
/// scale and the flags labelers may set.
public struct Project: Sendable, Equatable, Codable {
    public let id: Int
    public let name: String
    /// The guidelines of ranking and comparing answers.
    public let guidelines: String
    /// The guidelines of writing a demonstration, and of writing a prompt: other tasks, other rules.
    public let demonstrationGuidelines: String
    public let promptGuidelines: String
    public let rankingSize: Int
    public let overlap: Int
    public let ratingMinimum: Int
    public let ratingMaximum: Int
    public let flags: [String]
    /// Minutes an assignment stays with its labeler before it returns to the queue.
    public let assignmentMinutes: Int
    /// How many prompts the project wants its labelers to write.
    public let promptsWanted: Int
    /// The chance that a ranking task served from the queue is a gold prompt instead.
    public let goldRate: Double
    /// After this many new rankings the worker retrains the reward model, then the policy
    /// (0: never by itself; Docs/jobs.md).
    public let retrainAfterRankings: Int
    /// Whether a ranking must rate every answer on the project's scale (on by default).
    public let ratingsRequired: Bool
    public let comparisonStyle: ComparisonStyle
    /// The reward-hacking watch's bounds on the project's policy jobs (0: off).
    public let alarmKlPerAnswer: Double
    public let alarmLengthRatio: Double
    public let alarmEntropyFraction: Double
    /// The largest share by which the reward model may favour a policy over what people's
    /// verdicts give it (`RewardHumanGapWatch`; 0: off).
    public let alarmRewardHumanGap: Double
    public let alarmPausesJob: Bool
    /// Minutes after first ranking a prompt during which a labeler may correct it (0: never).
    public let correctionMinutes: Int
    public let queueOrder: QueueOrder
    /// With `uncertainty`, the share of ranking tasks drawn at random from the open prompts.
    public let randomShare: Double
    public let createdAt: String

    public var rewardHackingBounds: RewardHackingBounds {
        RewardHackingBounds(klPerAnswer: alarmKlPerAnswer, lengthRatio: alarmLengthRatio, entropyFraction: alarmEntropyFraction, pausesJob: alarmPausesJob)
    }

    /// InstructGPT's flags (Ouyang et al. 2022, appendix B).
    public static let defaultFlags = [
        "fails_to_follow_instruction", "inappropriate_for_customer_assistant", "hallucination",
        "sexual_content", "violent_content", "encourages_violence_abuse_terrorism_or_self_harm",
        "denigrates_protected_class", "harmful_advice", "expresses_opinion", "expresses_moral_judgment",
    ]

    init(row: Row) throws {
        id = try row.int("id")
        name = try row.string("name")
        guidelines = try row.string("guidelines")
        demonstrationGuidelines = try row.string("demonstration_guidelines")
        correctionMinutes = try row.int("correction_minutes")
        queueOrder = QueueOrder(rawValue: try row.string("queue_order")) ?? .import
        randomShare = try row.double("random_share")
        promptGuidelines = try row.string("prompt_guidelines")
        rankingSize = try row.int("ranking_size")
        overlap = try row.int("overlap")
        ratingMinimum = try row.int("rating_minimum")
        ratingMaximum = try row.int("rating_maximum")
        flags = try JSONColumns.strings(row, "flags")
        assignmentMinutes = try row.int("assignment_minutes")
        promptsWanted = try row.int("prompts_wanted")
        goldRate = try row.double("gold_rate")
        retrainAfterRankings = try row.int("retrain_after_rankings")
        ratingsRequired = try row.int("ratings_required") == 1
        let style = try row.string("comparison_style")
        guard let comparisonStyle = ComparisonStyle(rawValue: style) else { throw LabelingError("project \(id) has an unknown comparison style '\(style)'") }
        self.comparisonStyle = comparisonStyle
        alarmKlPerAnswer = try row.double("alarm_kl_per_answer")
        alarmLengthRatio = try row.double("alarm_length_ratio")
        alarmEntropyFraction = try row.double("alarm_entropy_fraction")
        alarmRewardHumanGap = try row.double("alarm_reward_human_gap")
        alarmPausesJob = try row.int("alarm_pauses_job") == 1
        createdAt = try row.string("created_at")
    }
}

/// What a new project needs; missing settings take InstructGPT's defaults.
public struct NewProject: Sendable, Decodable {
    public var name: String
    public var queueOrder: String?
    public var randomShare: Double?
    public var correctionMinutes: Int?
    public var guidelines: String?
    public var demonstrationGuidelines: String?
    public var promptGuidelines: String?
    public var rankingSize: Int?
    public var overlap: Int?
    public var ratingMinimum: Int?
    public var ratingMaximum: Int?
    public var flags: [String]?
    public var assignmentMinutes: Int?
    public var promptsWanted: Int?
    public var goldRate: Double?
    public var retrainAfterRankings: Int?
    public var ratingsRequired: Bool?
    /// "rate-and-rank" (the default) or "graded-pair", which takes a ranking size of 2 and no ratings.
    public var comparisonStyle: String?

    public init(name: String) { self.name = name }
}

/// The settings of a project that may change while it runs; absent fields stay as they are.
public struct ProjectChange: Sendable, Decodable {
    /// "import" or "uncertainty" (active selection), and its share of random tasks (0 to 1).
    public var queueOrder: String?
    public var randomShare: Double?
    /// Minutes a labeler may correct a ranking after first submitting it; a change applies to
    /// rankings already made too (0 ends corrections).
    public var correctionMinutes: Int?
    public var guidelines: String?
    public var demonstrationGuidelines: String?
    public var promptGuidelines: String?
    /// How many labelers rank each prompt. Raising it reopens prompts that were complete (they
    /// come back into the queues until they have the new number); lowering it closes prompts that
    /// already have that many (their further rankings stay stored and exported).
    public var overlap: Int?
    /// How many candidates the worker fills a prompt to when it samples. Prompts that already
    /// have candidates keep them, and rankings already made keep their size: the reward model
    /// trains on every pair of each ranking whatever its size, as InstructGPT's 4 to 9 did.
    public var rankingSize: Int?
    public var goldRate: Double?
    public var promptsWanted: Int?
    public var assignmentMinutes: Int?
    public var retrainAfterRankings: Int?
    public var ratingsRequired: Bool?
    /// The reward-hacking watch (0 turns a bound off; `RewardHackingBounds`).
    public var alarmKlPerAnswer: Double?
    public var alarmLengthRatio: Double?
    public var alarmEntropyFraction: Double?
    public var alarmRewardHumanGap: Double?
    public var alarmPausesJob: Bool?

    public init() {}
}

/// Why labeling data was refused, in words for the person who sent it, naming the field.
public struct LabelingError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable { case invalid, notFound, conflict }
    public let kind: Kind
    public let description: String
    public init(_ description: String, kind: Kind = .invalid) {
        self.kind = kind
        self.description = description
    }
}

public struct ProjectRepository: Sendable {
    private static let columns = "id, name, guidelines, demonstration_guidelines, prompt_guidelines, correction_minutes, queue_order, random_share, ranking_size, overlap, rating_minimum, rating_maximum, flags, assignment_minutes, prompts_wanted, gold_rate, retrain_after_rankings, ratings_required, comparison_style, alarm_kl_per_answer, alarm_length_ratio, alarm_entropy_fraction, alarm_reward_human_gap, alarm_pauses_job, created_at"

    public init() {}

    public func create(_ project: NewProject, createdBy: Int?, in database: Database) throws -> Project {
        let name = project.name.trimmingCharacters(in: .whitespaces)
        guard (1...200).contains(StoredText.length(name)) else { throw LabelingError("field 'name' must have 1 to 200 characters") }
        try Self.checkGuidelines(project.guidelines, project.demonstrationGuidelines, project.promptGuidelines)
        try Self.check(correctionMinutes: project.correctionMinutes)
        try Self.check(queueOrder: project.queueOrder, randomShare: project.randomShare)
        let size = project.rankingSize ?? (project.comparisonStyle == ComparisonStyle.gradedPair.rawValue ? 2 : 4)
        guard (2...9).contains(size) else { throw LabelingError("field 'rankingSize' must be from 2 to 9, not \(size)") }
        let overlap = project.overlap ?? 1
        guard (1...20).contains(overlap) else { throw LabelingError("field 'overlap' must be from 1 to 20, not \(overlap)") }
        let (minimum, maximum) = (project.ratingMinimum ?? 1, project.ratingMaximum ?? 7)
        guard minimum < maximum else { throw LabelingError("field 'ratingMinimum' must be below 'ratingMaximum'") }
        let style = try Self.style(project.comparisonStyle)
        var ratingsRequired = project.ratingsRequired ?? true
        if style == .gradedPair {
            // The graded scale is the whole judgment: two answers, no rating of each.
            guard size == 2 else {
                throw LabelingError("field 'rankingSize' must be 2 for a graded-pair project (two answers side by side), not \(size)")
            }
            guard project.ratingsRequired != true else { throw LabelingError("field 'ratingsRequired' cannot be true for a graded-pair project: its scale rates the pair, not each answer") }
            ratingsRequired = false
        }
        let flags = project.flags ?? Project.defaultFlags
        guard Set(flags).count == flags.count, flags.allSatisfy({ !$0.isEmpty && $0.count <= 100 }) else {
            throw LabelingError("field 'flags' must be distinct names of 1 to 100 characters")
        }
        let minutes = project.assignmentMinutes ?? 60
        let promptsWanted = project.promptsWanted ?? 0
        let goldRate = project.goldRate ?? 0
        let retrainAfter = project.retrainAfterRankings ?? 0
        try Self.check(goldRate: goldRate, promptsWanted: promptsWanted, assignmentMinutes: minutes, retrainAfterRankings: retrainAfter)
        do {
            try database.execute("""
                INSERT INTO projects (name, queue_order, random_share, correction_minutes, guidelines, demonstration_guidelines, prompt_guidelines, ranking_size, overlap, rating_minimum, rating_maximum,
                                      flags, assignment_minutes, prompts_wanted, gold_rate, retrain_after_rankings, ratings_required, comparison_style, created_by)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [name, project.queueOrder ?? QueueOrder.import.rawValue, project.randomShare ?? 0.2, project.correctionMinutes ?? 60, project.guidelines ?? "", project.demonstrationGuidelines ?? "", project.promptGuidelines ?? "", size, overlap, minimum, maximum, JSONColumns.encode(flags),
                      minutes, promptsWanted, goldRate, retrainAfter, ratingsRequired, style.rawValue, createdBy])
        } catch let error as DatabaseError where error.isUniqueViolation {
            throw LabelingError("a project named '\(name)' exists already", kind: .conflict)
        }
        return try find(id: Int(database.lastInsertRowID), in: database)!
    }

    /// Each kind's guidelines: at most 100,000 code points, as the database checks them.
    private static func checkGuidelines(_ ranking: String?, _ demonstration: String?, _ prompt: String?) throws {
        for (field, text) in [("guidelines", ranking), ("demonstrationGuidelines", demonstration), ("promptGuidelines", prompt)] {
            if let text, StoredText.length(text) > 100_000 { throw LabelingError("field '\(field)' must have at most 100000 characters") }
        }
    }

    private static func style(_ name: String?) throws -> ComparisonStyle {
        guard let name else { return .rateAndRank }
        guard let style = ComparisonStyle(rawValue: name) else {
            throw LabelingError("field 'comparisonStyle' must be \(ComparisonStyle.allCases.map { "'\($0.rawValue)'" }.joined(separator: " or ")), not '\(name)'")
        }
        return style
    }

    private static func check(queueOrder: String?, randomShare: Double?) throws {
        if let order = queueOrder, QueueOrder(rawValue: order) == nil {
            throw LabelingError("field 'queueOrder' must be 'import' or 'uncertainty', not '\(order)'")
        }
        if let share = randomShare, !(0...1).contains(share) { throw LabelingError("field 'randomShare' must be from 0 to 1, not \(share)") }
    }

    private static func check(correctionMinutes: Int?) throws {
        if let minutes = correctionMinutes, !(0...10080).contains(minutes) {
            throw LabelingError("field 'correctionMinutes' must be from 0 (no corrections) to 10080 (a week), not \(minutes)")
        }
    }

    private static func check(goldRate: Double?, promptsWanted: Int?, assignmentMinutes: Int?, retrainAfterRankings: Int?) throws {
        if let count = retrainAfterRankings, !(0...1_000_000).contains(count) {
            throw LabelingError("field 'retrainAfterRankings' must be from 0 (never) to 1000000, not \(count)")
        }
        if let minutes = assignmentMinutes, !(1...10080).contains(minutes) {
            throw LabelingError("field 'assignmentMinutes' must be from 1 to 10080 (a week), not \(minutes)")
        }
        if let wanted = promptsWanted, !(0...1_000_000).contains(wanted) {
            throw LabelingError("field 'promptsWanted' must be from 0 to 1000000, not \(wanted)")
        }
        if let rate = goldRate, !(0...1).contains(rate) {
            throw LabelingError("field 'goldRate' must be a fraction from 0 to 1, not \(rate)")
        }
    }

    /// Changes the settings named in `change`; returns the project, nil when there is none.
    public func update(id: Int, _ change: ProjectChange, in database: Database) throws -> Project? {
        try Self.check(goldRate: change.goldRate, promptsWanted: change.promptsWanted, assignmentMinutes: change.assignmentMinutes,
                       retrainAfterRankings: change.retrainAfterRankings)
        try Self.checkGuidelines(change.guidelines, change.demonstrationGuidelines, change.promptGuidelines)
        try Self.check(correctionMinutes: change.correctionMinutes)
        try Self.check(queueOrder: change.queueOrder, randomShare: change.randomShare)
        if let overlap = change.overlap, !(1...20).contains(overlap) { throw LabelingError("field 'overlap' must be from 1 to 20, not \(overlap)") }
        if let size = change.rankingSize {
            guard (2...9).contains(size) else { throw LabelingError("field 'rankingSize' must be from 2 to 9, not \(size)") }
            if size != 2, try find(id: id, in: database)?.comparisonStyle == .gradedPair {
                throw LabelingError("field 'rankingSize' must be 2 for a graded-pair project (two answers side by side), not \(size)")
            }
        }
        if change.ratingsRequired == true, try find(id: id, in: database)?.comparisonStyle == .gradedPair {
            throw LabelingError("field 'ratingsRequired' cannot be true for a graded-pair project: its scale rates the pair, not each answer")
        }
        try RewardHackingBounds.check(klPerAnswer: change.alarmKlPerAnswer, lengthRatio: change.alarmLengthRatio, entropyFraction: change.alarmEntropyFraction)
        try RewardHumanGapWatch.check(bound: change.alarmRewardHumanGap)
        try database.execute("""
            UPDATE projects SET queue_order = coalesce(?, queue_order), random_share = coalesce(?, random_share), correction_minutes = coalesce(?, correction_minutes), guidelines = coalesce(?, guidelines), demonstration_guidelines = coalesce(?, demonstration_guidelines),
                                prompt_guidelines = coalesce(?, prompt_guidelines), overlap = coalesce(?, overlap), ranking_size = coalesce(?, ranking_size), gold_rate = coalesce(?, gold_rate), prompts_wanted = coalesce(?, prompts_wanted),
                                assignment_minutes = coalesce(?, assignment_minutes), retrain_after_rankings = coalesce(?, retrain_after_rankings),
                                ratings_required = coalesce(?, ratings_required), alarm_kl_per_answer = coalesce(?, alarm_kl_per_answer),
                                alarm_length_ratio = coalesce(?, alarm_length_ratio), alarm_entropy_fraction = coalesce(?, alarm_entropy_fraction),
                                alarm_reward_human_gap = coalesce(?, alarm_reward_human_gap), alarm_pauses_job = coalesce(?, alarm_pauses_job)
            WHERE id = ?
            """, [change.queueOrder, change.randomShare, change.correctionMinutes, change.guidelines, change.demonstrationGuidelines, change.promptGuidelines, change.overlap, change.rankingSize, change.goldRate, change.promptsWanted, change.assignmentMinutes, change.retrainAfterRankings, change.ratingsRequired,
                  change.alarmKlPerAnswer, change.alarmLengthRatio, change.alarmEntropyFraction, change.alarmRewardHumanGap, change.alarmPausesJob, id])
        return try find(id: id, in: database)
    }

    public func find(id: Int, in database: Database) throws -> Project? {
        try database.queryOne("SELECT \(Self.columns) FROM projects WHERE id = ?", [id]).map(Project.init(row:))
    }

    public func all(in database: Database) throws -> [Project] {
        try database.query("SELECT \(Self.columns) FROM projects ORDER BY id").map(Project.init(row:))
    }
}


