import Cryptography
import Foundation
import JSON
import Labeling
import Storage

/// Imports comparisons in TRL's preference format (what `RankingExporter` writes as
/// `comparisons`, or any TRL dataset): each line a `prompt`, a `chosen` and a `rejected`
/// answer, optionally `ranking_id`, `labeler_id`, `rank_distance`, `strength`, `margin` and `split`.
///
/// Lines with the same `ranking_id` become one ranking again: every answer gets rank 1 if no
/// pair puts another above it, else the highest rank a pair above it plus its rank distance
/// implies (1 when absent), and the ranks are then made dense (1, 2, 2, 3) as every stored
/// ranking is; an export of this project's own rankings comes back with the same ranks and
/// therefore the same pairs. Lines without `ranking_id` are one ranking each. A preference's
/// strength is kept apart from its ranks: `strength`, or TRL's `margin` where no `rank_distance`
/// says it is one, is stored as the strength of a ranking of two (a one-pair ranking). Each
/// source labeler becomes a placeholder account (`imported-N`, suspended, no password), so
/// imported rankings never pass for a real labeler's. Validated whole, all or nothing.
public struct ComparisonImporter: Sendable {
    public struct Summary: Sendable, Codable, Equatable {
        public var rankingsCreated = 0
        public var pairs = 0
    }

    struct Pair {
        let line: Int
        let prompt: PromptContent
        let chosen: String
        let rejected: String
        let rankingKey: String
        let labeler: Int
        /// How many ranks apart the two answers are (1 when not given).
        let rankDistance: Int
        /// How much better `chosen` is, when the line says.
        let strength: Double?
        let split: DataSplit
    }

    public init() {}

    /// The lines of `bytes`, CRLF or LF, in order, so an index plus one is a line number.
    static func lines(_ bytes: [UInt8]) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var start = 0
        while start <= bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            var line = Array(bytes[start..<end])
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            lines.append(line)
            start = end + 1
        }
        return lines
    }

    public func importComparisons(_ bytes: [UInt8], fileName: String, projectID: Int, in database: Database) throws -> Summary {
        var problems = ProblemList(fileName: fileName)
        func report(_ line: Int, _ field: String, _ message: String) { problems.report(line, field, message) }
        var pairs: [Pair] = []
        for (index, line) in Self.lines(bytes).enumerated() {
            let number = index + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            guard let record = try? JSONParser.parse(line), case .object = record else {
                report(number, "", "each line must be a JSON object"); continue
            }
            if let problem = record.forbiddenTextProblem() { report(number, "", problem); continue }
            let prompt: PromptContent
            switch record["prompt"] {
            case .string(let text)? where !text.isEmpty: prompt = .text(text)
            case .array(let turns)? where !turns.isEmpty:
                var parsed: [Turn] = []
                for turn in turns {
                    if case .string(let role)? = turn["role"], Turn.roles.contains(role), case .string(let content)? = turn["content"] {
                        parsed.append(Turn(role: role, content: content))
                    }
                }
                guard parsed.count == turns.count else { report(number, "prompt", "every turn needs a role and a content"); continue }
                prompt = .conversation(parsed)
            default:
                report(number, "prompt", "must be a non-empty string or a list of messages"); continue
            }
            func answer(_ field: String) -> String? {
                switch record[field] {
                case .string(let text)?: return text
                case .array(let messages)?:
                    if messages.count == 1, case .string(let text)? = messages[0]["content"] { return text }
                default: break
                }
                report(number, field, "must be a string or one assistant message")
                return nil
            }
            guard let chosen = answer("chosen"), let rejected = answer("rejected") else { continue }
            guard chosen != rejected else { report(number, "rejected", "is the same text as chosen"); continue }
            // How many ranks apart (Tally's exports write `rank_distance`), and how much better
            // (`strength`; TRL's `margin` is one where no `rank_distance` is given, and Tally's
            // own `margin` repeats one of the two).
            var rankDistance = 1, strength: Double?
            if let value = record["rank_distance"] {
                guard case .integer(let distance) = value, (1...8).contains(distance) else { report(number, "rank_distance", "must be an integer from 1 to 8"); continue }
                rankDistance = Int(distance)
            }
            if let value = record["strength"] {
                guard let given = value.finiteNumber, given >= 0 else { report(number, "strength", "must be a number of 0 or more"); continue }
                strength = given
            }
            if let value = record["margin"] {
                guard let margin = value.finiteNumber else { report(number, "margin", "must be a number"); continue }
                if record["rank_distance"] != nil {
                    guard margin == Double(rankDistance) || margin == strength else {
                        report(number, "margin", "must equal 'rank_distance'\(strength == nil ? "" : " or 'strength'") when both are given"); continue
                    }
                } else if let given = strength {
                    guard margin == given else { report(number, "margin", "must equal 'strength' when both are given"); continue }
                } else {
                    guard margin >= 0 else { report(number, "margin", "must be 0 or more: it says how much better 'chosen' is"); continue }
                    strength = margin
                }
            }
            var split = DataSplit.train
            if let value = record["split"] {
                guard case .string(let name) = value, let known = DataSplit(rawValue: name) else { report(number, "split", "must be train, validation or test"); continue }
                split = known
            }
            var labeler = 0
            if let value = record["labeler_id"] {
                guard case .integer(let id) = value, id >= 0 else { report(number, "labeler_id", "must be a non-negative integer"); continue }
                labeler = Int(id)
            }
            var rankingKey = "line:\(number)"
            if let value = record["ranking_id"] {
                guard case .integer(let id) = value else { report(number, "ranking_id", "must be an integer"); continue }
                rankingKey = "ranking:\(id)"
            }
            pairs.append(Pair(line: number, prompt: prompt, chosen: chosen, rejected: rejected, rankingKey: rankingKey,
                              labeler: labeler, rankDistance: rankDistance, strength: strength, split: split))
        }
        if pairs.isEmpty && problems.isEmpty { report(1, "", "the file holds no comparisons") }
        // One ranking's lines must agree on the prompt, the labeler and the order.
        var groups: [String: [Pair]] = [:]
        var order: [String] = []
        for pair in pairs {
            if groups[pair.rankingKey] == nil { order.append(pair.rankingKey) }
            groups[pair.rankingKey, default: []].append(pair)
        }
        var rankings: [(pairs: [Pair], ranks: [String: Int])] = []
        for key in order {
            let group = groups[key]!
            if let other = group.first(where: { $0.prompt != group[0].prompt || $0.labeler != group[0].labeler }) {
                report(other.line, "prompt", "a ranking's lines must share one prompt and one labeler"); continue
            }
            if group.count > 1, let graded = group.first(where: { $0.strength != nil }) {
                report(graded.line, "strength", "a strength (or a margin without rank_distance) is for a ranking of two answers, and this ranking has \(group.count) pairs"); continue
            }
            guard let ranks = Self.ranks(of: group) else { report(group[0].line, "", "the pairs of this ranking contradict each other (a cycle)"); continue }
            rankings.append((group, ranks))
        }
        if !problems.isEmpty { throw problems.rejection }

        var summary = Summary()
        let promptRepository = PromptRepository()
        for (group, ranks) in rankings {
            let first = group[0]
            let texts = ranks.keys.sorted()
            let prompt = NewPrompt(content: first.prompt, category: nil, split: first.split, source: "imported", metadataJSON: "{}",
                                   contentHash: SHA256.hexDigest(first.prompt.kind + "\u{0}" + first.prompt.storedContent),
                                   candidates: texts.map { PromptImporter.candidate(text: $0, model: "imported", version: "") })
            let promptID = try promptRepository.insert(prompt, projectID: projectID, in: database).id
            let labelerID = try placeholderLabeler(first.labeler, in: database)
            guard let stored = try promptRepository.find(id: promptID, in: database) else { continue }
            let idsByText = Dictionary(stored.candidates.map { ($0.text, $0.id) }, uniquingKeysWith: { first, _ in first })
            let entries = texts.map { RankingSubmission.Entry(candidateId: idsByText[$0]!, rank: ranks[$0]!, rating: nil, flags: nil) }
            // The ranking covers the answers this group names; the prompt may hold others from
            // earlier imports, so it is stored directly rather than through the labeler's check.
            _ = try RankingRepository().storeImported(promptID: promptID, labelerID: labelerID, entries: entries, strength: group.count == 1 ? first.strength : nil,
                                                      in: database)
            summary.rankingsCreated += 1
            summary.pairs += group.count
        }
        return summary
    }

    /// Ranks from pairs: never beaten → 1; otherwise the largest rank(better) + rank distance;
    /// then dense (a rank left empty by a pair the export filtered out closes up).
    static func ranks(of pairs: [Pair]) -> [String: Int]? {
        var texts = Set<String>()
        for pair in pairs { texts.insert(pair.chosen); texts.insert(pair.rejected) }
        var ranks: [String: Int] = [:]
        for text in texts where !pairs.contains(where: { $0.rejected == text }) { ranks[text] = 1 }
        // Longest-path relaxation; more rounds than answers means a cycle.
        for _ in 0...texts.count {
            var changed = false
            for pair in pairs {
                guard let better = ranks[pair.chosen] else { continue }
                if (ranks[pair.rejected] ?? 0) < better + pair.rankDistance {
                    ranks[pair.rejected] = better + pair.rankDistance
                    changed = true
                }
            }
            if !changed {
                guard ranks.count == texts.count, texts.count <= 9 else { return nil }
                let dense = Dictionary(uniqueKeysWithValues: Set(ranks.values).sorted().enumerated().map { ($0.element, $0.offset + 1) })
                return ranks.mapValues { dense[$0]! }
            }
        }
        return nil
    }

    private func placeholderLabeler(_ sourceID: Int, in database: Database) throws -> Int {
        let username = "imported-\(sourceID)"
        if let user = try UserRepository().find(username: username, in: database) { return user.id }
        // "!" is no valid password hash: the account can never sign in, and it is suspended.
        return try UserRepository().create(username: username, displayName: "Imported labeler \(sourceID)", role: .labeler,
                                           status: .suspended, passwordHash: "!", in: database).id
    }
}
