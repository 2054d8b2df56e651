import Foundation
import JSON
import TransformerCore

/// Reads the JSONL files training takes, every line checked before any is used: a bad line
/// is an error naming its file, line and field, and nothing is trained on a file with one.
///
/// Supervised fine-tuning: TRL's `messages` (the last message the assistant's answer), or
/// `prompt` and `completion` (text, or the conversational form), as Tally's `sft-messages` and
/// `sft-prompt-completion` exports write them.
///
/// Reward model: Tally's `rankings` export (whole rankings of K answers), TRL's preference
/// format `prompt`/`chosen`/`rejected` (text or conversational, as Tally's `comparisons` export
/// writes it), and Anthropic HH-RLHF's `chosen`/`rejected` transcripts.
///
/// A record whose `split` is `validation` or `test` is held out from training. Members the
/// readers do not use (ids, timings, ratings) are skipped; the ones they use are checked.
public enum TrainingDataReader {
    public static func supervisedExamples(files: [String]) throws -> [SupervisedExample] {
        var examples: [SupervisedExample] = []
        for file in files {
            try forEachRecord(in: file) { record, source in examples.append(try supervisedExample(record, source: source)) }
        }
        guard !examples.isEmpty else { throw TrainingDataError(file: files.joined(separator: ", "), line: 0, "holds no demonstrations") }
        return examples
    }

    /// Rankings and pairs. Answers that are the same text tie (HH-RLHF holds 34 such pairs):
    /// they make no pair, never a preference. An HH-RLHF record whose two transcripts differ
    /// before the last reply has no one prompt, and one whose transcript ends with the human's
    /// turn has no reply (a few of the helpful test pairs each): it is skipped and `skipped` is
    /// told where, so the caller can say so.
    public static func rankingExamples(files: [String], skipped: (TrainingDataError) -> Void) throws -> [RankingExample] {
        var examples: [RankingExample] = []
        for file in files {
            try forEachRecord(in: file) { record, source in
                do { examples.append(try rankingExample(record, source: source)) } catch let error as UnpairedTranscripts { skipped(error.problem) }
            }
        }
        guard !examples.isEmpty else { throw TrainingDataError(file: files.joined(separator: ", "), line: 0, "holds no comparisons") }
        return examples
    }

    /// Prompts for policy optimization: any record with a `prompt` (Tally's prompt import and
    /// every export, TRL's prompt-only, preference and prompt-completion formats), or with
    /// `messages` (the conversation before its last assistant turn). A prompt that repeats an
    /// earlier one is dropped, so that no prompt weighs twice; `repeated` counts them.
    public static func promptExamples(files: [String], repeated: inout Int) throws -> [PromptExample] {
        var examples: [PromptExample] = [], seen = Set<[String]>()
        for file in files {
            try forEachRecord(in: file) { record, source in
                let fields = Fields(record: record, source: source)
                let prompt: [ChatTemplate.Message]
                if record["prompt"] != nil {
                    prompt = try fields.prompt()
                } else if let messages = record["messages"] {
                    var turns = try fields.messages(messages, field: "messages")
                    if turns.last?.role == "assistant" { turns.removeLast() }
                    guard turns.contains(where: { $0.role == "user" }) else { throw fields.error("messages", "holds no user turn to answer") }
                    prompt = turns
                } else {
                    throw fields.error("", "needs 'prompt' (text or a conversation) or 'messages'")
                }
                let key = prompt.flatMap { [$0.role, $0.content] }
                guard seen.insert(key).inserted else { repeated += 1; return }
                examples.append(PromptExample(prompt: prompt, isHeldOut: try fields.isHeldOut(), source: source))
            }
        }
        guard !examples.isEmpty else { throw TrainingDataError(file: files.joined(separator: ", "), line: 0, "holds no prompts") }
        return examples
    }

    /// Calls `body` with each non-blank line's JSON object.
    static func forEachRecord(in file: String, _ body: (JSONValue, SourceLine) throws -> Void) throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw TrainingDataError(file: file, line: 0, "cannot read the file") }
        if data.starts(with: [0x1f, 0x8b]) { throw TrainingDataError(file: file, line: 0, "is gzip-compressed; decompress it first (gunzip -k)") }
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            var bytes = Array(line)
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            guard bytes.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { continue }
            let value: JSONValue
            do { value = try JSONParser.parse(bytes) } catch { throw TrainingDataError(file: file, line: lineNumber, "not valid JSON (\(error))") }
            guard case .object = value else { throw TrainingDataError(file: file, line: lineNumber, "must be a JSON object, not \(value.kindDescription)") }
            try body(value, SourceLine(file: file, line: lineNumber))
        }
    }

    // MARK: Demonstrations

    static func supervisedExample(_ record: JSONValue, source: SourceLine) throws -> SupervisedExample {
        let fields = Fields(record: record, source: source)
        let isHeldOut = try fields.isHeldOut()
        if let messages = record["messages"] {
            let turns = try fields.messages(messages, field: "messages")
            guard let last = turns.last, last.role == "assistant" else {
                throw fields.error("messages", "must end with the assistant's answer (role 'assistant')")
            }
            guard turns.count >= 2 else { throw fields.error("messages", "needs a prompt before the assistant's answer") }
            guard !last.content.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw fields.error("messages[\(turns.count - 1)].content", "the answer is empty") }
            return SupervisedExample(prompt: Array(turns.dropLast()), response: last.content, isHeldOut: isHeldOut, source: source)
        }
        guard record["prompt"] != nil, let completion = record["completion"] else {
            throw fields.error("", "needs 'messages', or 'prompt' and 'completion'")
        }
        let prompt = try fields.prompt()
        let response = try fields.answer(completion, field: "completion")
        return SupervisedExample(prompt: prompt, response: response, isHeldOut: isHeldOut, source: source)
    }

    // MARK: Rankings and pairs

    static func rankingExample(_ record: JSONValue, source: SourceLine) throws -> RankingExample {
        let fields = Fields(record: record, source: source)
        let isHeldOut = try fields.isHeldOut()
        let group = try fields.optionalString("labeler_group")
        if let candidates = record["candidates"] {
            // Tally's rankings export: every candidate with its rank.
            let prompt = try fields.prompt()
            guard case .array(let list) = candidates, (2...9).contains(list.count) else { throw fields.error("candidates", "must be an array of 2 to 9 candidates") }
            var answers: [String] = [], ranks: [Int] = []
            for (index, candidate) in list.enumerated() {
                guard case .string(let text)? = candidate["text"] else { throw fields.error("candidates[\(index)].text", "must be a string") }
                guard case .integer(let rank)? = candidate["rank"], (1...Int64(list.count)).contains(rank) else {
                    throw fields.error("candidates[\(index)].rank", "must be an integer from 1 to \(list.count)")
                }
                answers.append(text)
                ranks.append(Int(rank))
            }
            guard ranks.contains(1) else { throw fields.error("candidates", "no candidate has rank 1") }
            return RankingExample(prompt: prompt, answers: answers, ranks: ranks, labelerGroup: group, isHeldOut: isHeldOut, source: source)
        }
        guard let chosen = record["chosen"], let rejected = record["rejected"] else {
            throw fields.error("", "needs 'candidates' (Tally's rankings export), 'prompt'/'chosen'/'rejected' (TRL), or 'chosen'/'rejected' transcripts (HH-RLHF)")
        }
        let prompt: [ChatTemplate.Message], answers: [String]
        if record["prompt"] == nil {
            (prompt, answers) = try hhTranscripts(chosen: chosen, rejected: rejected, fields: fields)
        } else {
            prompt = try fields.prompt()
            answers = [try fields.answer(chosen, field: "chosen"), try fields.answer(rejected, field: "rejected")]
        }
        let ranks = answers[0] == answers[1] ? [1, 1] : [1, 2]
        return RankingExample(prompt: prompt, answers: answers, ranks: ranks, labelerGroup: group, isHeldOut: isHeldOut, source: source)
    }

    /// An HH-RLHF record that cannot be one prompt with two answers.
    struct UnpairedTranscripts: Error { let problem: TrainingDataError }

    /// HH-RLHF's two transcripts ("\n\nHuman: ...\n\nAssistant: ...") share every turn but the
    /// last assistant's; that turn is each one's answer.
    static func hhTranscripts(chosen: JSONValue, rejected: JSONValue, fields: Fields) throws -> ([ChatTemplate.Message], [String]) {
        guard case .string(let chosenText) = chosen else { throw fields.error("chosen", "must be a transcript string") }
        guard case .string(let rejectedText) = rejected else { throw fields.error("rejected", "must be a transcript string") }
        func split(_ text: String, field: String) throws -> (prompt: [ChatTemplate.Message], answer: String) {
            let turns = try transcriptTurns(text, field: field, fields: fields)
            guard turns.contains(where: { $0.role == "user" }), turns.count >= 2 else {
                throw fields.error(field, "must hold a 'Human:' turn and an 'Assistant:' reply")
            }
            // HH-RLHF holds a few transcripts that end with the human's turn: no reply to compare.
            guard turns.last?.role == "assistant" else {
                throw UnpairedTranscripts(problem: fields.error(field, "ends with a 'Human:' turn, not the assistant's reply, so the pair compares no replies; skipped"))
            }
            return (Array(turns.dropLast()), turns[turns.count - 1].content)
        }
        let (chosenPrompt, chosenAnswer) = try split(chosenText, field: "chosen")
        let (rejectedPrompt, rejectedAnswer) = try split(rejectedText, field: "rejected")
        guard chosenPrompt == rejectedPrompt else {
            throw UnpairedTranscripts(problem: fields.error("rejected", "its conversation before the last reply differs from chosen's, so the pair has no one prompt; skipped"))
        }
        return (chosenPrompt, [chosenAnswer, rejectedAnswer])
    }

    static func transcriptTurns(_ text: String, field: String, fields: Fields) throws -> [ChatTemplate.Message] {
        var turns: [ChatTemplate.Message] = []
        var rest = Substring(text)
        let markers = [("\n\nHuman:", "user"), ("\n\nAssistant:", "assistant")]
        guard markers.contains(where: { rest.hasPrefix($0.0) }) else { throw fields.error(field, "must start with '\\n\\nHuman:'") }
        while !rest.isEmpty {
            guard let (marker, role) = markers.first(where: { rest.hasPrefix($0.0) }) else { break }
            rest = rest.dropFirst(marker.count)
            let next = markers.compactMap { rest.range(of: $0.0)?.lowerBound }.min() ?? rest.endIndex
            turns.append(ChatTemplate.Message(role: role, content: rest[..<next].trimmingCharacters(in: .whitespaces)))
            rest = rest[next...]
        }
        return turns
    }

    /// One record's members, read with errors that name the member.
    struct Fields {
        let record: JSONValue
        let source: SourceLine

        func error(_ field: String, _ message: String) -> TrainingDataError {
            TrainingDataError(file: source.file, line: source.line, field: field, message)
        }

        func optionalString(_ name: String) throws -> String? {
            switch record[name] {
            case nil, .null?: return nil
            case .string(let text)?: return text
            case let other?: throw error(name, "must be a string, not \(other.kindDescription)")
            }
        }

        func isHeldOut() throws -> Bool {
            switch try optionalString("split") {
            case nil, "train"?: return false
            case "validation"?, "test"?: return true
            case let other?: throw error("split", "must be train, validation or test, not '\(other)'")
            }
        }

        /// `prompt`: a non-empty string (one user turn) or a conversation not ending with the assistant.
        func prompt() throws -> [ChatTemplate.Message] {
            switch record["prompt"] {
            case .string(let text)?:
                guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw error("prompt", "is empty") }
                return [ChatTemplate.Message(role: "user", content: text)]
            case let value?:
                let turns = try messages(value, field: "prompt")
                guard turns.last?.role != "assistant" else { throw error("prompt", "must not end with the assistant's turn: that is the answer") }
                return turns
            case nil: throw error("prompt", "is missing")
            }
        }

        /// An answer: text, or TRL's conversational form (one assistant message in a list).
        func answer(_ value: JSONValue, field: String) throws -> String {
            let text: String
            switch value {
            case .string(let string): text = string
            case .array:
                let turns = try messages(value, field: field)
                guard turns.count == 1, turns[0].role == "assistant" else { throw error(field, "must be one assistant message") }
                text = turns[0].content
            default: throw error(field, "must be a string or a list of one assistant message, not \(value.kindDescription)")
            }
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw error(field, "the answer is empty") }
            return text
        }

        func messages(_ value: JSONValue, field: String) throws -> [ChatTemplate.Message] {
            guard case .array(let list) = value, !list.isEmpty else { throw error(field, "must be a non-empty array of {role, content}") }
            return try list.enumerated().map { index, message in
                guard case .string(let role)? = message["role"], ["system", "user", "assistant"].contains(role) else {
                    throw error("\(field)[\(index)].role", "must be system, user or assistant")
                }
                guard case .string(let content)? = message["content"] else { throw error("\(field)[\(index)].content", "must be a string") }
                return ChatTemplate.Message(role: role, content: content)
            }
        }
    }
}
