import Cryptography
import Foundation
import JSON
import Labeling
import Storage

/// The export formats of rankings (see Docs/formats.md).
public enum ExportFormat: String, Sendable, CaseIterable, Codable {
    /// TRL's preference format, one pair per line: `prompt`, `chosen`, `rejected`.
    case comparisons
    /// Anthropic HH-RLHF: `chosen` and `rejected` full transcripts with Human/Assistant turns.
    case hhRLHF = "hh-rlhf"
    /// One line per ranking with every candidate, rank, rating, flag, labeler and timing.
    case rankings
    /// CSV, one row per rated candidate.
    case ratingsCSV = "ratings-csv"
    /// Demonstrations for supervised fine-tuning in TRL's conversational `messages` form.
    case sftMessages = "sft-messages"
    /// Demonstrations as TRL's `prompt` / `completion` pairs.
    case sftPromptCompletion = "sft-prompt-completion"

    var isDemonstrations: Bool { self == .sftMessages || self == .sftPromptCompletion }

    public var contentType: String { self == .ratingsCSV ? "text/csv; charset=utf-8" : "application/jsonl" }
    public var fileExtension: String { self == .ratingsCSV ? "csv" : "jsonl" }
}

/// What an export holds, for checking a download: its filter, counts and SHA-256.
public struct ExportManifest: Sendable, Codable, Equatable {
    public static let schemaVersion = 1
    public var schemaVersion = ExportManifest.schemaVersion
    public let format: String
    public let projectId: Int
    public let filter: RankingFilter
    public let tiedPairsOnly: Bool
    public let rankings: Int
    public let demonstrations: Int
    public let records: Int
    public let bytes: Int
    public let sha256: String
}

/// Writes a project's rankings in one of the `ExportFormat`s, streaming: each record is handed
/// to `write` as it is made, so memory stays constant whatever the size.
public struct RankingExporter: Sendable {
    public init() {}

    /// The pairs of one ranking: (better, worse, margin); ties left out. With `tiedOnly`, only
    /// the tied pairs (margin 0), for those who train on them separately.
    static func pairs(of ranking: StoredRanking, tiedOnly: Bool = false) -> [(StoredRanking.Entry, StoredRanking.Entry, Int)] {
        var pairs: [(StoredRanking.Entry, StoredRanking.Entry, Int)] = []
        for (index, first) in ranking.entries.enumerated() {
            for second in ranking.entries[(index + 1)...] where (first.rank == second.rank) == tiedOnly {
                pairs.append(first.rank <= second.rank ? (first, second, second.rank - first.rank) : (second, first, first.rank - second.rank))
            }
        }
        return pairs
    }

    /// Exports and returns the manifest of exactly what was written.
    @discardableResult
    public func export(_ format: ExportFormat, projectID: Int, filter: RankingFilter, tiedPairsOnly: Bool = false,
                       from database: Database, _ write: ([UInt8]) throws -> Void) throws -> ExportManifest {
        let hasher = SHA256Hasher()
        var (rankings, demonstrations, records, bytes) = (0, 0, 0, 0)
        func emit(_ line: [UInt8]) throws {
            hasher.update(line)
            bytes += line.count
            records += 1
            try write(line)
        }
        if format == .ratingsCSV {
            let header = Array("ranking_id,prompt_id,candidate_id,model,labeler_id,labeler_group,rank,rating,flags,split,submitted_at\r\n".utf8)
            hasher.update(header)
            bytes += header.count
            try write(header)
        }
        if format.isDemonstrations {
            try DemonstrationRepository().forEachDemonstration(projectID: projectID, filter: filter, in: database) { demonstration in
                demonstrations += 1
                try emit(Self.line(Self.sftRecord(demonstration, messages: format == .sftMessages)))
            }
        }
        if !format.isDemonstrations {
            try exportRankings(format, projectID: projectID, filter: filter, tiedPairsOnly: tiedPairsOnly, from: database, emit: emit) { rankings += 1 }
        }
        return ExportManifest(format: format.rawValue, projectId: projectID, filter: filter, tiedPairsOnly: tiedPairsOnly,
                              rankings: rankings, demonstrations: demonstrations, records: records, bytes: bytes, sha256: Hex.encode(hasher.finalize()))
    }

    private func exportRankings(_ format: ExportFormat, projectID: Int, filter: RankingFilter, tiedPairsOnly: Bool, from database: Database,
                                emit: ([UInt8]) throws -> Void, counted: () -> Void) throws {
        try RankingRepository().forEachRanking(projectID: projectID, filter: filter, in: database) { ranking in
            counted()
            switch format {
            case .comparisons:
                for pair in Self.pairs(of: ranking, tiedOnly: tiedPairsOnly) { try emit(Self.line(Self.trlPair(ranking, pair))) }
            case .hhRLHF:
                for pair in Self.pairs(of: ranking, tiedOnly: tiedPairsOnly) { try emit(Self.line(Self.hhPair(ranking, pair))) }
            case .rankings:
                try emit(Self.line(Self.rawRanking(ranking)))
            case .ratingsCSV:
                for entry in ranking.entries { try emit(Self.csvRow(ranking, entry)) }
            case .sftMessages, .sftPromptCompletion:
                break
            }
        }
    }

    /// One SFT example: the prompt's messages then the demonstration as the assistant's turn
    /// (`messages`), or the prompt and the demonstration side by side (`prompt`/`completion`,
    /// conversational when the prompt is a conversation).
    static func sftRecord(_ demonstration: StoredDemonstration, messages: Bool) -> JSONValue {
        let turns: [Turn]
        switch demonstration.content {
        case .text(let text): turns = [Turn(role: "user", content: text)]
        case .conversation(let conversation): turns = conversation
        }
        let answer = Turn(role: "assistant", content: demonstration.text)
        var fields: [(key: String, value: JSONValue)]
        if messages {
            fields = [("messages", Self.messages(turns + [answer]))]
        } else if case .text(let text) = demonstration.content {
            fields = [("prompt", .string(text)), ("completion", .string(demonstration.text))]
        } else {
            fields = [("prompt", Self.messages(turns)), ("completion", Self.messages([answer]))]
        }
        fields += [("demonstration_id", .integer(Int64(demonstration.id))), ("prompt_id", .integer(Int64(demonstration.promptID))),
                   ("labeler_id", .integer(Int64(demonstration.labelerID))), ("prefilled", .bool(demonstration.prefilled)),
                   ("split", .string(demonstration.split))]
        return .object(fields)
    }

    static func line(_ value: JSONValue) -> [UInt8] {
        var bytes: [UInt8] = []
        JSONWriter.write(value, into: &bytes)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    static func messages(_ turns: [Turn]) -> JSONValue {
        .array(turns.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) })
    }

    static func trlPair(_ ranking: StoredRanking, _ pair: (StoredRanking.Entry, StoredRanking.Entry, Int)) -> JSONValue {
        let (better, worse, margin) = pair
        let prompt: JSONValue, chosen: JSONValue, rejected: JSONValue
        switch ranking.content {
        case .text(let text):
            (prompt, chosen, rejected) = (.string(text), .string(better.text), .string(worse.text))
        case .conversation(let turns):
            prompt = messages(turns)
            chosen = messages([Turn(role: "assistant", content: better.text)])
            rejected = messages([Turn(role: "assistant", content: worse.text)])
        }
        return .object([
            ("prompt", prompt), ("chosen", chosen), ("rejected", rejected),
            ("chosen_candidate_id", .integer(Int64(better.candidateID))), ("rejected_candidate_id", .integer(Int64(worse.candidateID))),
            ("ranking_id", .integer(Int64(ranking.id))), ("labeler_id", .integer(Int64(ranking.labelerID))),
            ("prompt_id", .integer(Int64(ranking.promptID))), ("margin", .integer(Int64(margin))), ("split", .string(ranking.split)),
        ])
    }

    /// HH-RLHF transcripts: each turn as "\n\nHuman: ..." or "\n\nAssistant: ...", the answer last.
    /// A system turn has no place in the format and is written as a Human turn.
    static func transcript(_ content: PromptContent, answer: String) -> String {
        var text = ""
        switch content {
        case .text(let prompt): text = "\n\nHuman: " + prompt
        case .conversation(let turns):
            for turn in turns { text += (turn.role == "assistant" ? "\n\nAssistant: " : "\n\nHuman: ") + turn.content }
        }
        return text + "\n\nAssistant: " + answer
    }

    static func hhPair(_ ranking: StoredRanking, _ pair: (StoredRanking.Entry, StoredRanking.Entry, Int)) -> JSONValue {
        .object([
            ("chosen", .string(transcript(ranking.content, answer: pair.0.text))),
            ("rejected", .string(transcript(ranking.content, answer: pair.1.text))),
            ("ranking_id", .integer(Int64(ranking.id))), ("labeler_id", .integer(Int64(ranking.labelerID))),
            ("margin", .integer(Int64(pair.2))), ("split", .string(ranking.split)),
        ])
    }

    static func rawRanking(_ ranking: StoredRanking) -> JSONValue {
        let prompt: JSONValue
        switch ranking.content {
        case .text(let text): prompt = .string(text)
        case .conversation(let turns): prompt = messages(turns)
        }
        let candidates: [JSONValue] = ranking.entries.map { entry in
            .object([
                ("candidate_id", .integer(Int64(entry.candidateID))), ("model", .string(entry.modelName)), ("text", .string(entry.text)),
                ("rank", .integer(Int64(entry.rank))), ("rating", entry.rating.map { .integer(Int64($0)) } ?? .null),
                ("flags", (try? JSONParser.parse(entry.flagsJSON)) ?? .array([])),
            ])
        }
        return .object([
            ("ranking_id", .integer(Int64(ranking.id))), ("prompt_id", .integer(Int64(ranking.promptID))), ("prompt", prompt),
            ("split", .string(ranking.split)), ("labeler_id", .integer(Int64(ranking.labelerID))), ("labeler_group", .string(ranking.labelerGroup)),
            ("candidates", .array(candidates)), ("shown_order", (try? JSONParser.parse(ranking.shownOrderJSON)) ?? .array([])),
            ("none_acceptable", .bool(ranking.noneAcceptable)), ("comment", .string(ranking.comment)),
            ("seconds_spent", ranking.secondsSpent.map { .double($0) } ?? .null), ("submitted_at", .string(ranking.submittedAt)),
        ])
    }

    /// One CSV row (RFC 4180: fields with commas, quotes or line breaks are quoted, quotes doubled).
    static func csvRow(_ ranking: StoredRanking, _ entry: StoredRanking.Entry) -> [UInt8] {
        var flags: [String] = []
        if case .array(let values)? = try? JSONParser.parse(entry.flagsJSON) {
            flags = values.compactMap { if case .string(let flag) = $0 { return flag }; return nil }
        }
        let fields = [String(ranking.id), String(ranking.promptID), String(entry.candidateID), entry.modelName, String(ranking.labelerID),
                      ranking.labelerGroup, String(entry.rank), entry.rating.map(String.init) ?? "", flags.joined(separator: ";"),
                      ranking.split, ranking.submittedAt]
        return Array((fields.map(csvField).joined(separator: ",") + "\r\n").utf8)
    }

    static func csvField(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
