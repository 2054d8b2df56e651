import Cryptography
import Foundation
import JSON
import Labeling
import Training
import TransformerCore

/// Self-Instruct's bootstrap (Wang et al. 2022, arXiv 2212.10560), as its code does it: a policy
/// continues a numbered list, "Come up with a series of tasks:" followed by eight instructions
/// (six written by people, the project's own prompts, and two it wrote earlier, while it has
/// them), and each new item it writes is an instruction. An instruction is kept unless the
/// paper's filters drop it (`SelfInstructFilter`); the survivors become prompts of source
/// `model`, marked with the model version and the job, for labelers to write demonstrations for,
/// rank, or skip.
public struct SelfInstructOptions: Sendable, Equatable {
    /// New prompts wanted.
    public var count = 20
    /// Generation rounds at most (each writes `promptsPerRound` continuations).
    public var maximumRounds = 20
    public var promptsPerRound = 4
    public var maximumNewTokens = 256
    /// The paper's sampling: temperature 0.7, top-p 0.5.
    public var temperature: Float = 0.7
    public var topP: Float = 0.5
    public var seed: UInt64 = 1

    public init() {}
}

/// The paper's filters of a generated instruction, each a reason to drop it.
enum SelfInstructFilter {
    enum Reason: String, CaseIterable {
        case length = "fewer than 4 or more than 150 words"
        case unsuitable = "asks for what a language model cannot give (an image, a file, a program to run...)"
        case form = "starts with punctuation or a character outside English"
        case nearDuplicate = "a near duplicate (ROUGE-L above 0.7) of a prompt the project has or the job kept"
    }

    /// The paper's blacklist: tasks a text model cannot do.
    static let unsuitableWords = ["image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
                                  "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram"]
    static let nearDuplicate = 0.7

    /// Why `instruction` is dropped, or nil to keep it; `kept` holds the words of every prompt it
    /// must not repeat.
    static func reason(_ instruction: String, against kept: [[Substring]]) -> Reason? {
        let words = instruction.split(whereSeparator: \.isWhitespace)
        guard words.count > 3, words.count <= 150 else { return .length }
        let lowered = instruction.lowercased()
        if unsuitableWords.contains(where: { lowered.range(of: "\\b\($0)\\b", options: .regularExpression) != nil }) || lowered.hasPrefix("write a program") {
            return .unsuitable
        }
        // Python's string.punctuation is ASCII's punctuation and symbols.
        guard let first = instruction.first, first.isASCII, !first.isPunctuation, !first.isSymbol else { return .form }
        let own = RougeL.words(instruction)
        if kept.contains(where: { RougeL.score(own, $0) > nearDuplicate }) { return .nearDuplicate }
        return nil
    }

    /// The instructions in a continuation of "N." (the list's next number): the text up to the
    /// first blank line, cut at each later "M." item, each cleaned of extra white space.
    static func instructions(in continuation: String) -> [String] {
        let list = continuation.components(separatedBy: "\n\n").first ?? ""
        let items = list.split(separator: "\n").map { line -> String in
            var text = Substring(line)
            if let match = text.firstMatch(of: /^\s*\d+\s?\.\s?/) { text = text[match.range.upperBound...] }
            return text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
        return items.filter { !$0.isEmpty }
    }

    /// The few-shot prompt: "Come up with a series of tasks:" and `instructions` numbered, then
    /// the next number for the model to continue.
    static func prompt(_ instructions: [String]) -> String {
        var text = "Come up with a series of tasks:\n"
        for (index, instruction) in instructions.enumerated() {
            let flat = instruction.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            text += "\(index + 1). \(flat.hasSuffix(":") ? String(flat.dropLast()) : flat)\n"
        }
        return text + "\(instructions.count + 1)."
    }
}

extension JobRun {
    func bootstrapPrompts(from base: ModelVersion, options: SelfInstructOptions) throws {
        let policy = try PretrainedModel.load(base.checkpointPath)
        // The seed tasks are the snapshot's: the project's text prompts written by people. Every
        // text prompt of the project is one a new instruction must not repeat.
        let (seeds, existing) = try read { database in
            (try database.query("SELECT p.content FROM job_snapshot s JOIN prompts p ON p.id = s.item_id WHERE s.job_id = ? AND s.item_kind = 'prompt' ORDER BY p.id",
                                [self.job.id]).map { try $0.string("content") },
             try database.query("SELECT content, source FROM prompts WHERE project_id = ? AND kind = 'text' ORDER BY id", [self.job.projectId])
                .map { (text: try $0.string("content"), human: try $0.string("source") != "model") })
        }
        guard seeds.count >= 2 else {
            throw JobFailure("a Self-Instruct job writes new prompts from the project's own, and project \(job.projectId) has \(seeds.count) text prompt\(seeds.count == 1 ? "" : "s") written by people; import some (Demo/self-instruct-seed-tasks.jsonl holds the paper's 175 seed tasks)")
        }
        let context = policy.model.contextLength
        var keptWords = existing.map { RougeL.words($0.text) }
        var written: [String] = existing.filter { !$0.human }.map(\.text)
        var random = SeededRandom(seed: options.seed)
        var dropped = Dictionary(uniqueKeysWithValues: SelfInstructFilter.Reason.allCases.map { ($0, 0) })
        var added = 0, round = 0
        try note("Writing up to \(options.count) new prompts with \(base.name) from the project's \(seeds.count) prompts by people (Self-Instruct: 6 of theirs and 2 written earlier per request).")
        while added < options.count, round < options.maximumRounds {
            if try stoppedBetweenBatches() { return }
            round += 1
            let requests: [[Int32]] = try (0..<options.promptsPerRound).map { _ in
                let machine = Array(written.shuffled(using: &random).prefix(2))
                var human = Array(seeds.shuffled(using: &random).prefix(8 - machine.count))
                var examples = (human + machine).shuffled(using: &random)
                var tokens = policy.tokenizer.encode(SelfInstructFilter.prompt(examples))
                // Fewer examples where eight and the answer overflow the model's context.
                while tokens.count + options.maximumNewTokens > context, human.count > 1 {
                    human.removeLast()
                    examples = (human + machine).shuffled(using: &random)
                    tokens = policy.tokenizer.encode(SelfInstructFilter.prompt(examples))
                }
                guard tokens.count + options.maximumNewTokens <= context else {
                    throw JobFailure("the request with \(examples.count) example instructions takes \(tokens.count) tokens and the answer up to \(options.maximumNewTokens); model '\(base.name)' reads at most \(context): lower max-new-tokens")
                }
                return tokens
            }
            var sampling = SamplingOptions()
            (sampling.temperature, sampling.topP, sampling.maximumNewTokens, sampling.stopTokens) = (options.temperature, options.topP, options.maximumNewTokens, policy.stopTokens)
            sampling.seed = options.seed &+ UInt64(round)
            let continuations = try policy.model.sample(prompts: requests, options: sampling).map { policy.tokenizer.decode($0.tokens.filter { !policy.stopTokens.contains($0) }) }
            var survivors: [String] = []
            for instruction in continuations.flatMap(SelfInstructFilter.instructions(in:)) where added + survivors.count < options.count {
                if let reason = SelfInstructFilter.reason(instruction, against: keptWords) {
                    dropped[reason, default: 0] += 1
                    continue
                }
                survivors.append(instruction)
                keptWords.append(RougeL.words(instruction))
            }
            let job = job
            let metadata = JSONWriter.string(.object([("self_instruct", .object([("model_version_id", .integer(Int64(base.id))), ("model", .string(base.name)),
                                                                                 ("job", .integer(Int64(job.id)))]))]))
            added += try write { database in
                try survivors.reduce(0) { total, instruction in
                    let content = PromptContent.text(instruction)
                    let prompt = NewPrompt(content: content, category: nil, split: .train, source: "model", metadataJSON: metadata,
                                           contentHash: SHA256.hexDigest(content.kind + "\u{0}" + content.storedContent), candidates: [])
                    return total + (try PromptRepository().insert(prompt, projectID: job.projectId, in: database).created ? 1 : 0)
                }
            }
            written += survivors
            report(TrainingProgress(phase: .training, step: round, totalSteps: options.maximumRounds, epoch: Double(added) / Double(options.count),
                                    elapsedSeconds: Date().timeIntervalSince(started),
                                    metrics: [("prompts_added", Double(added)), ("instructions_dropped", Double(dropped.values.reduce(0, +)))]))
            if let failure { throw JobFailure(failure) }
        }
        let reasons = SelfInstructFilter.Reason.allCases.filter { dropped[$0]! > 0 }.map { "\(dropped[$0]!) \($0.rawValue)" }
        try note("Added \(added) prompts of source model in \(round) rounds; dropped \(dropped.values.reduce(0, +)) instructions"
                 + (reasons.isEmpty ? "." : ": " + reasons.joined(separator: "; ") + "."))
        try write { try self.jobs.finish(id: self.job.id, status: .succeeded, in: $0) }
    }
}
