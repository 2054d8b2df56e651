import Cryptography
import JSON
import Labeling
import Storage

/// Imports prompts and their candidate outputs from JSONL, one prompt per line:
///
///     {"prompt": "text" or [{"role": "user", "content": "..."}, ...],
///      "category": "open_qa", "split": "train", "metadata": {...},
///      "candidates": [{"text": "...", "model": "name", "model_version": "v1"}, ...]}
///
/// Only `prompt` is required (see Docs/formats.md). The whole file is validated first and every
/// problem is reported with its line and field; if there is any, nothing is stored. Then all
/// records are stored in one transaction. Prompts and candidates already in the project (same
/// content hash) are found, not copied, so importing the same file twice changes nothing.
public struct PromptImporter: Sendable {
    public struct Summary: Sendable, Equatable, Codable {
        public var promptsCreated = 0
        public var promptsExisting = 0
        public var candidatesAdded = 0
    }

    public static let knownFields: Set<String> = ["prompt", "category", "split", "metadata", "candidates"]

    /// A candidate with its content hash: the same text from the same model version is stored once.
    public static func candidate(text: String, model: String, version: String) -> NewCandidate {
        NewCandidate(text: text, modelName: model, modelVersion: version, contentHash: SHA256.hexDigest(model + "\u{0}" + version + "\u{0}" + text))
    }

    public init() {}

    public func parse(_ bytes: [UInt8], fileName: String, source: String = "imported") throws -> [NewPrompt] {
        var problems = ProblemList(fileName: fileName)
        var prompts: [NewPrompt] = []
        func report(_ line: Int, _ field: String, _ message: String) { problems.report(line, field, message) }
        var lineNumber = 0
        var start = 0
        while start <= bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            lineNumber += 1
            var line = Array(bytes[start..<end])
            start = end + 1
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { if end == bytes.count { break } else { continue } }
            let record: JSONValue
            do { record = try JSONParser.parse(line) } catch {
                report(lineNumber, "", "not valid JSON (\(error))")
                continue
            }
            guard case .object(let fields) = record else {
                report(lineNumber, "", "each line must be a JSON object")
                continue
            }
            for (name, _) in fields where !Self.knownFields.contains(name) {
                report(lineNumber, name, "unknown field; expected one of \(Self.knownFields.sorted().joined(separator: ", "))")
            }
            if let parsed = parseRecord(record, line: lineNumber, source: source, report: report) { prompts += parsed }
        }
        if prompts.isEmpty && problems.isEmpty { report(lineNumber, "", "the file holds no prompts") }
        if !problems.isEmpty { throw problems.rejection }
        return prompts
    }

    /// What a turn of a conversation prompt may hold: an assistant turn may carry the answers
    /// to rank at that turn (`candidates`) and the model that wrote its own content (`model`).
    static let turnFields: Set<String> = ["role", "content", "candidates", "model"]

    /// The prompts of one record: the conversation itself (unless it ends with an assistant
    /// turn), and one prompt for each assistant turn that carries `candidates`, which is the
    /// conversation before that turn, ranked between the turn's own content and its candidates.
    private func parseRecord(_ record: JSONValue, line: Int, source: String, report: (Int, String, String) -> Void) -> [NewPrompt]? {
        if let problem = record.forbiddenTextProblem() {
            report(line, "", problem)
            return nil
        }
        var valid = true
        let content: PromptContent
        /// Turn index (the turns before it are the prompt) and the answers ranked there.
        var rankedTurns: [(turn: Int, candidates: [NewCandidate])] = []
        switch record["prompt"] {
        case .string(let text)?:
            if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { report(line, "prompt", "must not be empty"); valid = false }
            if let problem = TextLimits.problem(text, limit: TextLimits.content) { report(line, "prompt", problem); valid = false }
            content = .text(text)
        case .array(let turns)?:
            var parsed: [Turn] = []
            for (index, turn) in turns.enumerated() {
                if case .object(let members) = turn {
                    for (name, _) in members where !Self.turnFields.contains(name) {
                        report(line, "prompt[\(index)].\(name)", "unknown field; a turn holds \(Self.turnFields.sorted().joined(separator: ", "))"); valid = false
                    }
                }
                guard case .string(let role)? = turn["role"], Turn.roles.contains(role) else {
                    report(line, "prompt[\(index)].role", "must be one of system, user, assistant"); valid = false; continue
                }
                guard case .string(let text)? = turn["content"] else {
                    report(line, "prompt[\(index)].content", "must be a string"); valid = false; continue
                }
                if let problem = TextLimits.problem(text, limit: TextLimits.content) { report(line, "prompt[\(index)].content", problem); valid = false }
                if let value = turn["candidates"], value != .null {
                    if role != "assistant" {
                        report(line, "prompt[\(index)].candidates", "only an assistant turn has answers to rank"); valid = false
                    } else if index == 0 || parsed.last?.role == "assistant" {
                        report(line, "prompt[\(index)].candidates", "an answer ranked at a turn needs a user or system turn before it"); valid = false
                    } else {
                        var model = "imported"
                        if let value = turn["model"], value != .null {
                            if case .string(let name) = value, !name.isEmpty { model = name } else {
                                report(line, "prompt[\(index)].model", "must name the model that wrote the turn"); valid = false
                            }
                        }
                        guard let alternatives = parseCandidates(value, field: "prompt[\(index)].candidates", line: line, report: report) else { valid = false; continue }
                        if alternatives.isEmpty { report(line, "prompt[\(index)].candidates", "must hold at least one answer to rank beside the turn's own"); valid = false }
                        rankedTurns.append((index, [Self.candidate(text: text, model: model, version: "")] + alternatives))
                    }
                } else if turn["model"] != nil {
                    report(line, "prompt[\(index)].model", "is for a turn whose answers are ranked (one with 'candidates')"); valid = false
                }
                parsed.append(Turn(role: role, content: text))
            }
            if turns.isEmpty { report(line, "prompt", "a conversation needs at least one turn"); valid = false }
            if parsed.last?.role == "assistant" && rankedTurns.isEmpty {
                report(line, "prompt", "a conversation prompt must end with a user or system turn, or rank answers at an assistant turn (its 'candidates')"); valid = false
            }
            content = .conversation(parsed)
        case nil:
            report(line, "prompt", "is missing"); return nil
        default:
            report(line, "prompt", "must be a string or an array of {role, content}"); return nil
        }
        var category: PromptCategory?
        if let value = record["category"], value != .null {
            if case .string(let name) = value, let known = PromptCategory(rawValue: name) { category = known } else {
                report(line, "category", "must be one of \(PromptCategory.allCases.map(\.rawValue).joined(separator: ", "))"); valid = false
            }
        }
        var split = DataSplit.train
        if let value = record["split"], value != .null {
            if case .string(let name) = value, let known = DataSplit(rawValue: name) { split = known } else {
                report(line, "split", "must be train, validation or test"); valid = false
            }
        }
        var metadata: [(key: String, value: JSONValue)] = []
        if let value = record["metadata"], value != .null {
            if case .object(let members) = value { metadata = members } else { report(line, "metadata", "must be an object"); valid = false }
        }
        var candidates: [NewCandidate] = []
        if let value = record["candidates"], value != .null {
            guard let parsed = parseCandidates(value, field: "candidates", line: line, report: report) else { return nil }
            candidates = parsed
            if case .conversation(let turns) = content, turns.last?.role == "assistant", !candidates.isEmpty {
                report(line, "candidates", "answer the conversation's last turn, which is an assistant's: rank at that turn with its own 'candidates'"); valid = false
            }
        }
        guard valid else { return nil }
        func prompt(_ content: PromptContent, metadata: [(key: String, value: JSONValue)], candidates: [NewCandidate]) -> NewPrompt {
            NewPrompt(content: content, category: category, split: split, source: source, metadataJSON: JSONWriter.string(.object(metadata)),
                      contentHash: SHA256.hexDigest(content.kind + "\u{0}" + content.storedContent), candidates: candidates)
        }
        var prompts: [NewPrompt] = []
        if case .conversation(let turns) = content {
            for ranked in rankedTurns {
                // The turn's place in the whole conversation is kept, so a researcher can find it.
                prompts.append(prompt(.conversation(Array(turns[..<ranked.turn])), metadata: metadata.filter { $0.key != "rank_at_turn" } + [("rank_at_turn", .integer(Int64(ranked.turn)))],
                                      candidates: ranked.candidates))
            }
            if turns.last?.role == "assistant" { return prompts }
        }
        return prompts + [prompt(content, metadata: metadata, candidates: candidates)]
    }

    /// A list of candidate answers, `{text, model, model_version}` each; nil when it is not a list.
    private func parseCandidates(_ value: JSONValue, field: String, line: Int, report: (Int, String, String) -> Void) -> [NewCandidate]? {
        guard case .array(let items) = value else { report(line, field, "must be an array"); return nil }
        var candidates: [NewCandidate] = []
        var valid = true
        for (index, item) in items.enumerated() {
            guard case .string(let text)? = item["text"] else { report(line, "\(field)[\(index)].text", "must be a string"); valid = false; continue }
            if let problem = TextLimits.problem(text, limit: TextLimits.content) { report(line, "\(field)[\(index)].text", problem); valid = false; continue }
            guard case .string(let model)? = item["model"], !model.isEmpty else {
                report(line, "\(field)[\(index)].model", "must name the model that wrote it"); valid = false; continue
            }
            var version = ""
            if let value = item["model_version"], value != .null {
                if case .string(let text) = value { version = text } else { report(line, "\(field)[\(index)].model_version", "must be a string"); valid = false }
            }
            candidates.append(Self.candidate(text: text, model: model, version: version))
        }
        return valid ? candidates : nil
    }

    /// The columns of a CSV import: one row per candidate, the prompt's columns repeated on each of
    /// its rows (a prompt without candidates takes one row with the candidate columns empty).
    static let csvColumns = ["prompt", "category", "split", "metadata", "candidate", "model", "model_version"]

    /// Parses CSV with a header row naming its columns (see `csvColumns`; only `prompt` is
    /// required). Rows of the same prompt are gathered into one prompt with their candidates; its
    /// category, split and metadata must agree on every row. CSV prompts are texts: conversations
    /// come in JSONL.
    public func parseCSV(_ bytes: [UInt8], fileName: String, source: String = "imported") throws -> [NewPrompt] {
        var problems = ProblemList(fileName: fileName)
        let records: [CSVReader.Record]
        do { records = try CSVReader.records(bytes) } catch {
            problems.report(error.line, "", error.message)
            throw problems.rejection
        }
        guard let header = records.first else {
            problems.report(1, "", "the file holds no header row")
            throw problems.rejection
        }
        for name in header.fields where !Self.csvColumns.contains(name) {
            problems.report(header.line, name, "unknown column; expected some of \(Self.csvColumns.joined(separator: ", "))")
        }
        guard header.fields.contains("prompt") else {
            problems.report(header.line, "prompt", "the header must name a 'prompt' column")
            throw problems.rejection
        }
        // Each prompt's first row, in file order, then its candidates.
        struct Gathered { let line: Int; var fields: [String: String]; var candidates: [JSONValue] }
        var gathered: [Gathered] = []
        var indexByPrompt: [String: Int] = [:]
        for record in records.dropFirst() {
            guard record.fields.count == header.fields.count else {
                problems.report(record.line, "", "has \(record.fields.count) fields; the header has \(header.fields.count)")
                continue
            }
            let row = Dictionary(zip(header.fields, record.fields), uniquingKeysWith: { first, _ in first })
            let prompt = row["prompt"] ?? ""
            var candidates: [JSONValue] = []
            let text = row["candidate"] ?? "", model = row["model"] ?? "", version = row["model_version"] ?? ""
            if !text.isEmpty {
                if model.isEmpty { problems.report(record.line, "model", "must name the model that wrote the candidate"); continue }
                candidates.append(.object([("text", .string(text)), ("model", .string(model)), ("model_version", .string(version))]))
            } else if !model.isEmpty || !version.isEmpty {
                problems.report(record.line, "candidate", "is empty, but the row names a model")
            }
            if let index = indexByPrompt[prompt] {
                for column in ["category", "split", "metadata"] where (row[column] ?? "") != (gathered[index].fields[column] ?? "") {
                    problems.report(record.line, column, "differs from line \(gathered[index].line), an earlier row of the same prompt")
                }
                gathered[index].candidates += candidates
            } else {
                indexByPrompt[prompt] = gathered.count
                gathered.append(Gathered(line: record.line, fields: row, candidates: candidates))
            }
        }
        var prompts: [NewPrompt] = []
        for item in gathered {
            var fields: [(String, JSONValue)] = [("prompt", .string(item.fields["prompt"] ?? ""))]
            for column in ["category", "split"] { if let value = item.fields[column], !value.isEmpty { fields.append((column, .string(value))) } }
            if let metadata = item.fields["metadata"], !metadata.isEmpty {
                do { fields.append(("metadata", try JSONParser.parse(metadata))) } catch {
                    problems.report(item.line, "metadata", "must be a JSON object (\(error))")
                    continue
                }
            }
            fields.append(("candidates", .array(item.candidates)))
            if let parsed = parseRecord(.object(fields), line: item.line, source: source, report: { problems.report($0, $1, $2) }) { prompts += parsed }
        }
        if prompts.isEmpty && problems.isEmpty { problems.report(header.line, "", "the file holds no prompts") }
        if !problems.isEmpty { throw problems.rejection }
        return prompts
    }

    /// One prompt sent as a JSON object (the fields of one JSONL line), for the API and for
    /// labelers who write prompts. Problems are named by field.
    public func parseOne(_ record: JSONValue, source: String, allowedFields: Set<String> = knownFields) throws -> NewPrompt {
        var problems = ProblemList(fileName: "request body")
        guard case .object(let fields) = record else { throw LabelingError("the body must be a JSON object") }
        for (name, _) in fields where !allowedFields.contains(name) {
            problems.report(1, name, "is not accepted here; send \(allowedFields.sorted().joined(separator: ", "))")
        }
        let parsed = parseRecord(record, line: 1, source: source, report: { problems.report($0, $1, $2) })
        if let parsed, parsed.count != 1 {
            problems.report(1, "prompt", "ranks answers at an earlier turn, which makes several prompts: import it as a JSONL file")
        }
        guard problems.isEmpty, let prompt = parsed?.first else {
            throw LabelingError(problems.rejection.problems.map { "field '\($0.field)' \($0.message)" }.joined(separator: "; "))
        }
        return prompt
    }

    /// Stores parsed prompts in one transaction of `database`'s writer.
    public func store(_ prompts: [NewPrompt], projectID: Int, in database: Database) throws -> Summary {
        var summary = Summary()
        let repository = PromptRepository()
        for prompt in prompts {
            let result = try repository.insert(prompt, projectID: projectID, in: database)
            if result.created { summary.promptsCreated += 1 } else { summary.promptsExisting += 1 }
            summary.candidatesAdded += result.candidatesAdded
        }
        return summary
    }
}

import Foundation
