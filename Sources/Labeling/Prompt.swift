import JSON
import Storage

/// One turn of a conversation prompt.
public struct Turn: Sendable, Equatable, Codable {
    public let role: String
    public let content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }

    public static let roles: Set<String> = ["system", "user", "assistant"]
}

/// A prompt is a single text or a multi-turn conversation.
public enum PromptContent: Sendable, Equatable {
    case text(String)
    case conversation([Turn])

    /// The prompt as the API shows it: a string, or a list of `{role, content}` turns.
    public var jsonValue: JSONValue {
        switch self {
        case .text(let text): return .string(text)
        case .conversation(let turns): return .array(turns.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) })
        }
    }

    public var kind: String {
        switch self {
        case .text: return "text"
        case .conversation: return "conversation"
        }
    }

    /// The prompt as the turns of a conversation: a text prompt is one user turn. What a chat
    /// template renders, for sampling, training and exports alike.
    public var turns: [Turn] {
        switch self {
        case .text(let text): return [Turn(role: "user", content: text)]
        case .conversation(let turns): return turns
        }
    }

    /// What the `content` column holds: the text, or the turns as a JSON array.
    public var storedContent: String {
        switch self {
        case .text(let text): return text
        case .conversation(let turns):
            return JSONWriter.string(.array(turns.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) }))
        }
    }

    static func fromStorage(kind: String, content: String) throws -> PromptContent {
        if kind == "text" { return .text(content) }
        guard case .array(let values) = try JSONParser.parse(content) else { throw StorageError("a conversation prompt is not a JSON array") }
        return .conversation(try values.map { value in
            guard case .string(let role)? = value["role"], case .string(let text)? = value["content"] else {
                throw StorageError("a conversation turn lacks role or content")
            }
            return Turn(role: role, content: text)
        })
    }
}

/// InstructGPT's use-case categories (Ouyang et al. 2022, table 1).
public enum PromptCategory: String, Sendable, CaseIterable, Codable {
    case generation, openQA = "open_qa", brainstorming, chat, rewrite, summarization, classification, closedQA = "closed_qa", extract, other
}

public enum DataSplit: String, Sendable, CaseIterable, Codable {
    case train, validation, test
}

/// A prompt ready to be stored, with its candidate outputs.
public struct NewPrompt: Sendable {
    public var content: PromptContent
    public var category: PromptCategory?
    public var split: DataSplit
    public var source: String
    /// The labeler who wrote it, or the user whose API call sent it; nil for imports.
    public var authorID: Int?
    public var metadataJSON: String
    /// SHA-256 of kind and content, computed by the caller (this module holds no cryptography).
    public var contentHash: String
    public var candidates: [NewCandidate]

    public init(content: PromptContent, category: PromptCategory?, split: DataSplit, source: String, metadataJSON: String,
                contentHash: String, candidates: [NewCandidate]) {
        (self.content, self.category, self.split, self.source, self.metadataJSON, self.contentHash, self.candidates) =
            (content, category, split, source, metadataJSON, contentHash, candidates)
    }
}

public struct NewCandidate: Sendable {
    public var text: String
    public var modelName: String
    public var modelVersion: String
    public var contentHash: String
    /// The model version that wrote it, when it is one of Tally's own.
    public var modelVersionID: Int?
    /// The endpoint that answered it, when another server did.
    public var endpointID: Int?

    public init(text: String, modelName: String, modelVersion: String, contentHash: String, modelVersionID: Int? = nil) {
        (self.text, self.modelName, self.modelVersion, self.contentHash, self.modelVersionID) = (text, modelName, modelVersion, contentHash, modelVersionID)
    }
}

public struct Candidate: Sendable, Equatable, Codable {
    public let id: Int
    public let text: String
    public let modelName: String
    public let modelVersion: String
}

public struct StoredPrompt: Sendable {
    public let id: Int
    public let projectID: Int
    public let content: PromptContent
    public let category: String?
    public let split: String
    public let candidates: [Candidate]
}

public struct PromptRepository: Sendable {
    public init() {}

    /// Stores a prompt and its candidates, or finds the same prompt stored before and adds only
    /// candidates it lacks. Returns the prompt id, whether it is new, and how many candidates were added.
    public func insert(_ prompt: NewPrompt, projectID: Int, in database: Database) throws -> (id: Int, created: Bool, candidatesAdded: Int) {
        try database.execute("""
            INSERT INTO prompts (project_id, kind, content, category, split, source, metadata, content_hash, author_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, content_hash) DO NOTHING
            """, [projectID, prompt.content.kind, prompt.content.storedContent, prompt.category?.rawValue, prompt.split.rawValue,
                  prompt.source, prompt.metadataJSON, prompt.contentHash, prompt.authorID])
        let created = database.changes == 1
        let id = try database.queryScalarInt("SELECT id FROM prompts WHERE project_id = ? AND content_hash = ?", [projectID, prompt.contentHash])!
        return (id, created, try addCandidates(prompt.candidates, promptID: id, in: database))
    }

    /// Adds the candidates the prompt lacks; returns how many were added.
    public func addCandidates(_ candidates: [NewCandidate], promptID: Int, in database: Database) throws -> Int {
        var added = 0
        for candidate in candidates {
            try database.execute("""
                INSERT INTO candidates (prompt_id, text, model_name, model_version, content_hash, model_version_id, endpoint_id) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (prompt_id, content_hash) DO NOTHING
                """, [promptID, candidate.text, candidate.modelName, candidate.modelVersion, candidate.contentHash, candidate.modelVersionID, candidate.endpointID])
            added += database.changes
        }
        return added
    }

    public func find(id: Int, in database: Database) throws -> StoredPrompt? {
        guard let row = try database.queryOne("SELECT id, project_id, kind, content, category, split FROM prompts WHERE id = ?", [id]) else { return nil }
        let candidates = try database.query("SELECT id, text, model_name, model_version FROM candidates WHERE prompt_id = ? ORDER BY id", [id]).map {
            Candidate(id: try $0.int("id"), text: try $0.string("text"), modelName: try $0.string("model_name"), modelVersion: try $0.string("model_version"))
        }
        return StoredPrompt(id: id, projectID: try row.int("project_id"),
                            content: try PromptContent.fromStorage(kind: try row.string("kind"), content: try row.string("content")),
                            category: row.optionalString("category"), split: try row.string("split"), candidates: candidates)
    }
}
