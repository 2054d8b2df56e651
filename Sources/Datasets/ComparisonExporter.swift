import Foundation
import JSON
import Labeling
import Storage

/// Writes comparisons in TRL's preference format, one JSON object per line: every pair of
/// every ranking, the better-ranked candidate `chosen`, ties left out, with `ranking_id`,
/// `labeler_id`, `margin` (how many ranks apart) and `split` (a prompt's split, so all pairs of
/// one prompt land in the same split). A conversation prompt uses TRL's conversational form:
/// `prompt` is the list of messages and `chosen`/`rejected` are one assistant message each.
public struct ComparisonExporter: Sendable {
    public init() {}

    /// The pairs of one ranking, best first: (better, worse, margin).
    static func pairs(of ranking: StoredRanking) -> [(StoredRanking.Entry, StoredRanking.Entry, Int)] {
        var pairs: [(StoredRanking.Entry, StoredRanking.Entry, Int)] = []
        for (index, first) in ranking.entries.enumerated() {
            for second in ranking.entries[(index + 1)...] where first.rank != second.rank {
                pairs.append(first.rank < second.rank ? (first, second, second.rank - first.rank) : (second, first, first.rank - second.rank))
            }
        }
        return pairs
    }

    /// Calls `write` with each line (a JSON object and "\n"); returns the number of pairs.
    @discardableResult
    public func export(projectID: Int, from database: Database, _ write: ([UInt8]) throws -> Void) throws -> Int {
        var count = 0
        try RankingRepository().forEachRanking(projectID: projectID, in: database) { ranking in
            let prompt: JSONValue
            let wrap: (String) -> JSONValue
            switch ranking.content {
            case .text(let text):
                prompt = .string(text)
                wrap = { .string($0) }
            case .conversation(let turns):
                prompt = .array(turns.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) })
                wrap = { .array([.object([("role", .string("assistant")), ("content", .string($0))])]) }
            }
            for (better, worse, margin) in Self.pairs(of: ranking) {
                var line: [UInt8] = []
                JSONWriter.write(.object([
                    ("prompt", prompt), ("chosen", wrap(better.text)), ("rejected", wrap(worse.text)),
                    ("chosen_candidate_id", .integer(Int64(better.candidateID))), ("rejected_candidate_id", .integer(Int64(worse.candidateID))),
                    ("ranking_id", .integer(Int64(ranking.id))), ("labeler_id", .integer(Int64(ranking.labelerID))),
                    ("prompt_id", .integer(Int64(ranking.promptID))), ("margin", .integer(Int64(margin))), ("split", .string(ranking.split)),
                ]), into: &line)
                line.append(UInt8(ascii: "\n"))
                try write(line)
                count += 1
            }
        }
        return count
    }
}
