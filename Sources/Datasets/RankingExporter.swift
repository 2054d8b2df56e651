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

/// How prompts are written in an export: one form for every line of a file, since `datasets`
/// reads a file that mixes a string on one line with a list of messages on the next as untyped
/// JSON, and TRL's trainers then fail on it.
public enum PromptForm: String, Sendable, Codable, CaseIterable {
    /// `prompt` a string, answers strings; a conversation prompt has no such form.
    case text
    /// `prompt` a list of messages, answers a list of one assistant message (TRL's
    /// conversational form); a text prompt is one user message.
    case conversational
}

/// The scale of an exported `margin`, which TRL's `RewardTrainer` adds inside its loss
/// (`-log sigmoid(r_chosen - r_rejected - margin)`): written only when asked for.
public enum MarginScale: String, Sendable, Codable, CaseIterable {
    /// How many ranks apart the two answers are (1 for neighbours).
    case rankDistance = "rank-distance"
    /// The graded pair's strength (1 to 4), or the margin a ranking was imported with: every
    /// exported ranking must have one.
    case strength
}

/// What an export writes besides its records' content.
public struct ExportOptions: Sendable, Codable, Equatable {
    public var promptForm: PromptForm
    /// nil: no `margin` field (the rank distance is still in `rank_distance`).
    public var margin: MarginScale?

    public init(promptForm: PromptForm = .text, margin: MarginScale? = nil) { (self.promptForm, self.margin) = (promptForm, margin) }

    /// The form a project's export takes unless one is asked for: conversational when any of
    /// its prompts is a conversation, else text.
    public static func defaultPromptForm(projectID: Int, in database: Database) throws -> PromptForm {
        try database.queryScalarInt("SELECT EXISTS (SELECT 1 FROM prompts WHERE project_id = ? AND kind = 'conversation')", [projectID]) == 1 ? .conversational : .text
    }

    /// How many of the project's rankings have no strength, which `margin=strength` cannot write.
    public static func rankingsWithoutStrength(projectID: Int, in database: Database) throws -> Int {
        try database.queryScalarInt("SELECT count(*) FROM current_rankings r JOIN prompts p ON p.id = r.prompt_id WHERE p.project_id = ? AND r.strength IS NULL", [projectID]) ?? 0
    }
}

/// What an export holds, for checking a download: its filter, counts and SHA-256.
public struct ExportManifest: Sendable, Codable, Equatable {
    public static let schemaVersion = 2
    public var schemaVersion = ExportManifest.schemaVersion
    public let format: String
    public let projectId: Int
    public let filter: RankingFilter
    public let tiedPairsOnly: Bool
    public let options: ExportOptions
    public let rankings: Int
    public let demonstrations: Int
    public let records: Int
    public let bytes: Int
    public let sha256: String
}

/// A project's rankings or demonstrations in one of the `ExportFormat`s, read a page at a time:
/// each `nextPage` reads the records after the last one it wrote, in whatever read transaction
/// the caller gives it, so a download is made only as fast as the client takes it and holds no
/// transaction between pages. The filter's `until` (bound when the export starts) keeps the
/// pages one fixed set, and `manifest` describes exactly what was written once the last page
/// is out.
public final class ExportCursor: @unchecked Sendable {
    // One page at a time, by one caller at a time (a connection asks for its pieces in turn).
    public let format: ExportFormat
    public let projectID: Int
    public let filter: RankingFilter
    public let tiedPairsOnly: Bool
    public let options: ExportOptions
    private let hasher = SHA256Hasher()
    private var (rankings, demonstrations, records, bytes) = (0, 0, 0, 0)
    private var lastID = 0
    private var started = false
    private var finished = false
    /// Rankings (or demonstrations) read per page.
    private let pageSize: Int

    public init(_ format: ExportFormat, projectID: Int, filter: RankingFilter, tiedPairsOnly: Bool = false, options: ExportOptions = ExportOptions(),
                pageSize: Int = 100) {
        (self.format, self.projectID, self.filter, self.tiedPairsOnly, self.options, self.pageSize) = (format, projectID, filter, tiedPairsOnly, options, pageSize)
    }

    /// The next records' bytes, or nil once everything is written.
    public func nextPage(in database: Database) throws -> [UInt8]? {
        guard !finished else { return nil }
        var page: [UInt8] = []
        if !started {
            started = true
            if format == .ratingsCSV {
                let header = Array("ranking_id,prompt_id,candidate_id,model,labeler_id,labeler_group,rank,rating,flags,split,submitted_at\r\n".utf8)
                hasher.update(header)
                bytes += header.count
                page += header
            }
        }
        func emit(_ line: [UInt8]) {
            hasher.update(line)
            bytes += line.count
            records += 1
            page += line
        }
        if format.isDemonstrations {
            let read = try DemonstrationRepository().demonstrations(projectID: projectID, filter: filter, after: lastID, limit: pageSize, in: database)
            for demonstration in read {
                demonstrations += 1
                emit(RankingExporter.line(RankingExporter.sftRecord(demonstration, messages: format == .sftMessages, form: options.promptForm)))
            }
            lastID = read.last?.id ?? lastID
            finished = read.count < pageSize
        } else {
            let read = try RankingRepository().rankings(projectID: projectID, filter: filter, after: lastID, limit: pageSize, in: database)
            for ranking in read {
                rankings += 1
                for record in RankingExporter.records(of: ranking, format: format, tiedPairsOnly: tiedPairsOnly, options: options) { emit(record) }
            }
            lastID = read.last?.id ?? lastID
            finished = read.count < pageSize
        }
        return page.isEmpty && finished ? nil : page
    }

    /// What was written so far: the whole export's manifest once `nextPage` has returned nil.
    public var manifest: ExportManifest {
        ExportManifest(format: format.rawValue, projectId: projectID, filter: filter, tiedPairsOnly: tiedPairsOnly, options: options,
                       rankings: rankings, demonstrations: demonstrations, records: records, bytes: bytes, sha256: Hex.encode(hasher.finalize()))
    }
}

/// The records of each export format.
public enum RankingExporter {
    /// Exports the whole of it in one read transaction, handing each page to `write`, and returns
    /// the manifest of exactly what was written.
    @discardableResult
    public static func export(_ format: ExportFormat, projectID: Int, filter: RankingFilter, tiedPairsOnly: Bool = false, options: ExportOptions = ExportOptions(),
                              from database: Database, _ write: ([UInt8]) throws -> Void) throws -> ExportManifest {
        let cursor = ExportCursor(format, projectID: projectID, filter: filter, tiedPairsOnly: tiedPairsOnly, options: options)
        while let page = try cursor.nextPage(in: database) { try write(page) }
        return cursor.manifest
    }

    /// The lines (or CSV rows) one ranking contributes to `format`.
    static func records(of ranking: StoredRanking, format: ExportFormat, tiedPairsOnly: Bool, options: ExportOptions) -> [[UInt8]] {
        let pairs = ranking.comparisons(tiedPairsOnly ? .ties : .preferences)
        switch format {
        case .comparisons: return pairs.map { line(trlPair(ranking, $0, options: options)) }
        case .hhRLHF: return pairs.map { line(hhPair(ranking, $0, options: options)) }
        case .rankings: return [line(rawRanking(ranking, form: options.promptForm))]
        case .ratingsCSV: return ranking.entries.map { csvRow(ranking, $0) }
        case .sftMessages, .sftPromptCompletion: return []
        }
    }

    /// One SFT example: the prompt's messages then the demonstration as the assistant's turn
    /// (`messages`), or the prompt and the demonstration side by side (`prompt`/`completion`, in
    /// the export's form).
    static func sftRecord(_ demonstration: StoredDemonstration, messages: Bool, form: PromptForm) -> JSONValue {
        let answer = Turn(role: "assistant", content: demonstration.text)
        var fields: [(key: String, value: JSONValue)]
        if messages {
            fields = [("messages", Self.messages(demonstration.content.turns + [answer]))]
        } else {
            let (prompt, completions) = promptAndAnswers(demonstration.content, [demonstration.text], form: form)
            fields = [("prompt", prompt), ("completion", completions[0])]
        }
        fields += [("demonstration_id", .integer(Int64(demonstration.id))), ("prompt_id", .integer(Int64(demonstration.promptID))),
                   ("labeler_id", .integer(Int64(demonstration.labelerID))), ("prefilled", .bool(demonstration.prefilled)),
                   ("split", .string(demonstration.split))]
        return .object(fields)
    }

    /// A prompt and its answers in `form`. A conversation in the text form cannot happen: the
    /// export's options are checked against the project before it starts.
    static func promptAndAnswers(_ content: PromptContent, _ answers: [String], form: PromptForm) -> (prompt: JSONValue, answers: [JSONValue]) {
        switch (form, content) {
        case (.text, .text(let text)): return (.string(text), answers.map { .string($0) })
        case (.text, .conversation(let turns)): return (messages(turns), answers.map { messages([Turn(role: "assistant", content: $0)]) })
        case (.conversational, _): return (messages(content.turns), answers.map { messages([Turn(role: "assistant", content: $0)]) })
        }
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

    static func trlPair(_ ranking: StoredRanking, _ comparison: Comparison, options: ExportOptions) -> JSONValue {
        let (better, worse) = (comparison.preferred, comparison.rejected)
        let (prompt, answers) = promptAndAnswers(ranking.content, [better.text, worse.text], form: options.promptForm)
        return .object([
            ("prompt", prompt), ("chosen", answers[0]), ("rejected", answers[1]),
            ("chosen_candidate_id", .integer(Int64(better.candidateID))), ("rejected_candidate_id", .integer(Int64(worse.candidateID))),
            ("ranking_id", .integer(Int64(ranking.id))), ("labeler_id", .integer(Int64(ranking.labelerID))),
            ("prompt_id", .integer(Int64(ranking.promptID))), ("split", .string(ranking.split)),
            ("labeler_group", .string(ranking.labelerGroup)),
        ] + distance(comparison, options))
    }

    /// How far apart the pair's answers were ranked, always as `rank_distance` (which no trainer
    /// reads; the comparison importer does), and its `strength` where it has one; `margin` only
    /// when asked for, on the scale asked for.
    static func distance(_ comparison: Comparison, _ options: ExportOptions) -> [(key: String, value: JSONValue)] {
        var fields: [(key: String, value: JSONValue)] = [("rank_distance", .integer(Int64(comparison.margin)))]
        if let strength = comparison.strength { fields.append(("strength", number(strength))) }
        switch options.margin {
        case .rankDistance?: fields.append(("margin", .integer(Int64(comparison.margin))))
        // The export route refuses margin=strength for a project with rankings that lack one.
        case .strength?: fields.append(("margin", comparison.strength.map(number) ?? .null))
        case nil: break
        }
        return fields
    }

    /// A whole number as an integer (a graded strength is 1 to 4), any other as a double.
    static func number(_ value: Double) -> JSONValue {
        value == value.rounded() && abs(value) < 1e15 ? .integer(Int64(value)) : .double(value)
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

    static func hhPair(_ ranking: StoredRanking, _ comparison: Comparison, options: ExportOptions) -> JSONValue {
        .object([
            ("chosen", .string(transcript(ranking.content, answer: comparison.preferred.text))),
            ("rejected", .string(transcript(ranking.content, answer: comparison.rejected.text))),
            ("ranking_id", .integer(Int64(ranking.id))), ("labeler_id", .integer(Int64(ranking.labelerID))),
            ("split", .string(ranking.split)), ("labeler_group", .string(ranking.labelerGroup)),
        ] + distance(comparison, options))
    }

    static func rawRanking(_ ranking: StoredRanking, form: PromptForm) -> JSONValue {
        let prompt = promptAndAnswers(ranking.content, [], form: form).prompt
        let candidates: [JSONValue] = ranking.entries.map { entry in
            .object([
                ("candidate_id", .integer(Int64(entry.candidateID))), ("model", .string(entry.modelName)), ("text", .string(entry.text)),
                ("rank", .integer(Int64(entry.rank))), ("rating", entry.rating.map { .integer(Int64($0)) } ?? .null),
                ("flags", .array(entry.flags.map { .string($0) })),
            ])
        }
        return .object([
            ("ranking_id", .integer(Int64(ranking.id))), ("prompt_id", .integer(Int64(ranking.promptID))), ("prompt", prompt),
            ("split", .string(ranking.split)), ("labeler_id", .integer(Int64(ranking.labelerID))), ("labeler_group", .string(ranking.labelerGroup)),
            ("candidates", .array(candidates)), ("shown_order", .array(ranking.shownOrder.map { .integer(Int64($0)) })),
            ("none_acceptable", .bool(ranking.noneAcceptable)), ("strength", ranking.strength.map(number) ?? .null), ("comment", .string(ranking.comment)),
            ("seconds_spent", ranking.secondsSpent.map { .double($0) } ?? .null), ("submitted_at", .string(ranking.submittedAt)),
        ])
    }

    /// One CSV row (RFC 4180: fields with commas, quotes or line breaks are quoted, quotes doubled).
    static func csvRow(_ ranking: StoredRanking, _ entry: StoredRanking.Entry) -> [UInt8] {
        let flags = entry.flags
        // Numbers are Tally's own; the texts (a model's name, flags) may come from anyone.
        let fields = [String(ranking.id), String(ranking.promptID), String(entry.candidateID), neutralized(entry.modelName), String(ranking.labelerID),
                      ranking.labelerGroup, String(entry.rank), entry.rating.map(String.init) ?? "", neutralized(flags.joined(separator: ";")),
                      ranking.split, ranking.submittedAt]
        return Array((fields.map(csvField).joined(separator: ",") + "\r\n").utf8)
    }

    /// A text a spreadsheet would run as a formula (one beginning with `=`, `+`, `-`, `@`, a
    /// tab or a carriage return) with a `'` in front, as OWASP recommends against CSV injection:
    /// `@SUM(1+1)` is shown as text, not evaluated.
    static func neutralized(_ text: String) -> String {
        guard let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return text }
        return "'" + text
    }

    static func csvField(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
