import Foundation
import JSON
import Storage

/// A live conversation (Docs/labeling.md): a labeler's messages, each answered by two model
/// versions or endpoints (or two samples of one), the labeler's choice of the better continuing it. Each turn
/// is a prompt of its own (the conversation so far), with the two answers as its candidates and
/// the choice as a graded ranking of two, so a turn is a comparison like any other.
public struct Conversation: Sendable {
    public let id: Int
    public let projectId: Int
    public let labelerId: Int
    /// What answers as A and as B (equal: two samples of one): a model version or an endpoint.
    public let modelAId: Int?
    public let modelBId: Int?
    public let endpointAId: Int?
    public let endpointBId: Int?
    public let temperature: Double
    public let maximumTokens: Int
    public let startedAt: String
    public let endedAt: String?
    public let turns: [ConversationTurn]

    /// A's answerer, then B's.
    public var answerers: [LiveAnswerer] {
        [endpointAId.map(LiveAnswerer.endpoint) ?? .model(modelAId ?? 0), endpointBId.map(LiveAnswerer.endpoint) ?? .model(modelBId ?? 0)]
    }

    /// Whether the labeler may write the next message: open, and every answer chosen.
    public var awaitsMessage: Bool { endedAt == nil && turns.allSatisfy { $0.chosenId != nil } }

    /// The messages a model reads to answer `message` next: the labeler's messages and the
    /// answers chosen so far, then `message`.
    public func messages(continuingWith message: String) -> [Turn] {
        turns.flatMap { turn in [Turn(role: "user", content: turn.message), Turn(role: "assistant", content: turn.chosenText ?? "")] }
            + [Turn(role: "user", content: message)]
    }
}

public struct ConversationTurn: Sendable, Encodable {
    public struct Answer: Sendable, Encodable {
        public let candidateId: Int
        public let text: String
        public let firstTextMilliseconds: Double
        public let answerMilliseconds: Double
    }

    public let turn: Int
    public let promptId: Int
    public let message: String
    /// A's answer, then B's.
    public let answers: [Answer]
    public let chosenId: Int?
    /// The labeler's ranking of the two in force, and how much better the chosen one is (1 to 4).
    public let rankingId: Int?
    public let strength: Double?

    var chosenText: String? { answers.first { $0.candidateId == chosenId }?.text }
}

/// One conversation in a labeler's list.
public struct ConversationSummary: Sendable, Encodable {
    public let id: Int
    public let turns: Int
    public let startedAt: String
    public let endedAt: String?
}

/// A turn's answers, generated and ready to store with the conversation so far.
public struct NewConversationTurn: Sendable {
    public struct Answer: Sendable {
        public let text: String
        public let contentHash: String
        public let firstTextMilliseconds: Double
        public let answerMilliseconds: Double

        public init(text: String, contentHash: String, firstTextMilliseconds: Double, answerMilliseconds: Double) {
            (self.text, self.contentHash, self.firstTextMilliseconds, self.answerMilliseconds) = (text, contentHash, firstTextMilliseconds, answerMilliseconds)
        }
    }

    /// The turn this is (the conversation's turns so far plus one, checked when stored).
    public let turn: Int
    public let message: String
    public let promptHash: String
    public let answerA: Answer
    public let answerB: Answer

    public init(turn: Int, message: String, promptHash: String, answerA: Answer, answerB: Answer) {
        (self.turn, self.message, self.promptHash, self.answerA, self.answerB) = (turn, message, promptHash, answerA, answerB)
    }
}

public struct ConversationRepository: Sendable {
    /// Turns per conversation at most: a longer one would outgrow a small model's context anyway.
    public static let maximumTurns = 50

    public init() {}

    /// Starts a conversation in the project with two of its live models, drawn by `random`.
    public func start(projectID: Int, labelerID: Int, using random: inout some RandomNumberGenerator, in database: Database) throws -> Conversation {
        guard try ProjectRepository().find(id: projectID, in: database) != nil else { throw LabelingError("there is no project \(projectID)", kind: .notFound) }
        guard let settings = try LiveConversationSettingsRepository().find(projectID: projectID, in: database) else {
            throw LabelingError("project \(projectID) has no live conversations: a researcher chooses the models that answer first", kind: .conflict)
        }
        // One answerer: two samples of it. More: two different ones, on sides drawn at random.
        // An endpoint removed since the settings were saved answers no more.
        let pool = try settings.answerers.filter { answerer in
            guard let id = answerer.endpointID else { return true }
            return try ModelEndpointRepository().find(id: id, in: database)?.removedAt == nil
        }
        guard !pool.isEmpty else {
            throw LabelingError("every endpoint that answers project \(projectID)'s live conversations was removed: a researcher chooses new answerers first", kind: .conflict)
        }
        let drawn = pool.count == 1 ? [pool[0], pool[0]] : Array(pool.shuffled(using: &random).prefix(2))
        try database.execute("""
            INSERT INTO conversations (project_id, labeler_id, model_a_id, model_b_id, endpoint_a_id, endpoint_b_id, temperature, maximum_tokens)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [projectID, labelerID, drawn[0].modelVersionID, drawn[1].modelVersionID, drawn[0].endpointID, drawn[1].endpointID,
                  settings.temperature, settings.maximumTokens])
        return try find(id: Int(database.lastInsertRowID), in: database)!
    }

    public func find(id: Int, in database: Database) throws -> Conversation? {
        guard let row = try database.queryOne("""
            SELECT id, project_id, labeler_id, model_a_id, model_b_id, endpoint_a_id, endpoint_b_id, temperature, maximum_tokens, started_at, ended_at
            FROM conversations WHERE id = ?
            """, [id]) else { return nil }
        let turns = try database.query("""
            SELECT t.turn, t.prompt_id, p.content, t.chosen_id, t.answer_a_id, a.text AS a_text, t.a_first_text_ms, t.a_answer_ms,
                   t.answer_b_id, b.text AS b_text, t.b_first_text_ms, t.b_answer_ms, r.id AS ranking_id, r.strength
            FROM conversation_turns t JOIN prompts p ON p.id = t.prompt_id
              JOIN candidates a ON a.id = t.answer_a_id JOIN candidates b ON b.id = t.answer_b_id
              LEFT JOIN current_rankings r ON r.prompt_id = t.prompt_id AND r.labeler_id = ?2
            WHERE t.conversation_id = ?1 ORDER BY t.turn
            """, [id, try row.int("labeler_id")]).map { turn in
            guard case .conversation(let messages) = try PromptContent.fromStorage(kind: "conversation", content: try turn.string("content")),
                  let message = messages.last, message.role == "user" else {
                throw StorageError("turn \(try turn.int("turn")) of conversation \(id) has a prompt that does not end with the labeler's message")
            }
            return ConversationTurn(
                turn: try turn.int("turn"), promptId: try turn.int("prompt_id"), message: message.content,
                answers: [ConversationTurn.Answer(candidateId: try turn.int("answer_a_id"), text: try turn.string("a_text"),
                                                  firstTextMilliseconds: try turn.double("a_first_text_ms"), answerMilliseconds: try turn.double("a_answer_ms")),
                          ConversationTurn.Answer(candidateId: try turn.int("answer_b_id"), text: try turn.string("b_text"),
                                                  firstTextMilliseconds: try turn.double("b_first_text_ms"), answerMilliseconds: try turn.double("b_answer_ms"))],
                chosenId: turn.optionalInt("chosen_id"), rankingId: turn.optionalInt("ranking_id"), strength: turn.optionalDouble("strength"))
        }
        return Conversation(id: id, projectId: try row.int("project_id"), labelerId: try row.int("labeler_id"), modelAId: row.optionalInt("model_a_id"),
                            modelBId: row.optionalInt("model_b_id"), endpointAId: row.optionalInt("endpoint_a_id"), endpointBId: row.optionalInt("endpoint_b_id"),
                            temperature: try row.double("temperature"), maximumTokens: try row.int("maximum_tokens"),
                            startedAt: try row.string("started_at"), endedAt: row.optionalString("ended_at"), turns: turns)
    }

    /// The labeler's own conversation, or a not-found error (another's is not theirs to see).
    public func own(id: Int, labelerID: Int, in database: Database) throws -> Conversation {
        guard let conversation = try find(id: id, in: database), conversation.labelerId == labelerID else {
            throw LabelingError("you have no conversation \(id)", kind: .notFound)
        }
        return conversation
    }

    /// The labeler's conversations in a project, the latest first.
    public func list(projectID: Int, labelerID: Int, in database: Database) throws -> [ConversationSummary] {
        try database.query("""
            SELECT c.id, c.started_at, c.ended_at, (SELECT count(*) FROM conversation_turns t WHERE t.conversation_id = c.id) AS turns
            FROM conversations c WHERE c.project_id = ? AND c.labeler_id = ? ORDER BY c.id DESC LIMIT 100
            """, [projectID, labelerID]).map {
            ConversationSummary(id: try $0.int("id"), turns: try $0.int("turns"), startedAt: try $0.string("started_at"), endedAt: $0.optionalString("ended_at"))
        }
    }

    /// Why the labeler may not send a message now, or nil: the conversation is theirs, open,
    /// below its turn limit, and its last answers are chosen.
    public func refusalOfMessage(_ conversation: Conversation) -> LabelingError? {
        if conversation.endedAt != nil { return LabelingError("conversation \(conversation.id) has ended; start a new one", kind: .conflict) }
        if let open = conversation.turns.first(where: { $0.chosenId == nil }) {
            return LabelingError("choose the better answer of turn \(open.turn) first: the chosen answer is what the conversation goes on with", kind: .conflict)
        }
        if conversation.turns.count >= Self.maximumTurns {
            return LabelingError("conversation \(conversation.id) has \(Self.maximumTurns) turns, the most one may have; start a new one", kind: .conflict)
        }
        return nil
    }

    /// Stores a generated turn: its prompt (the conversation so far), the two answers as
    /// candidates written by their model versions, and the turn. Refuses a turn that is not the
    /// next one (a second message sent at once from another tab), or that comes too late.
    public func addTurn(_ new: NewConversationTurn, conversationID: Int, labelerID: Int, in database: Database) throws -> Conversation {
        let conversation = try own(id: conversationID, labelerID: labelerID, in: database)
        if let refusal = refusalOfMessage(conversation) { throw refusal }
        guard new.turn == conversation.turns.count + 1 else {
            throw LabelingError("conversation \(conversationID) has \(conversation.turns.count) turns already, so this answer to turn \(new.turn) is stale", kind: .conflict)
        }
        // Each answer is named by what wrote it: a version (its name and id) or an endpoint (the
        // model it serves and its id).
        let writers = try conversation.answerers.map { answerer -> (name: String, version: Int?, endpoint: Int?) in
            switch answerer {
            case .model(let id):
                guard let version = try ModelVersionRepository().find(id: id, in: database) else {
                    throw LabelingError("a model version of conversation \(conversationID) is gone", kind: .conflict)
                }
                return (version.name, id, nil)
            case .endpoint(let id):
                guard let endpoint = try ModelEndpointRepository().find(id: id, in: database) else {
                    throw LabelingError("an endpoint of conversation \(conversationID) is gone", kind: .conflict)
                }
                return (endpoint.model, nil, id)
            }
        }
        let content = PromptContent.conversation(conversation.messages(continuingWith: new.message))
        let metadata = JSONWriter.string(.object([("conversation", .integer(Int64(conversationID))), ("turn", .integer(Int64(new.turn)))]))
        var prompt = NewPrompt(content: content, category: .chat, split: .train, source: "labeler", metadataJSON: metadata, contentHash: new.promptHash, candidates: [])
        prompt.authorID = labelerID
        let promptID = try PromptRepository().insert(prompt, projectID: conversation.projectId, in: database).id
        var answerIDs: [Int] = []
        for (answer, writer) in zip([new.answerA, new.answerB], writers) {
            try database.execute("""
                INSERT INTO candidates (prompt_id, text, model_name, model_version, content_hash, model_version_id, endpoint_id) VALUES (?, ?, ?, 'live', ?, ?, ?)
                """, [promptID, answer.text, writer.name, answer.contentHash, writer.version, writer.endpoint])
            answerIDs.append(Int(database.lastInsertRowID))
        }
        try database.execute("""
            INSERT INTO conversation_turns (conversation_id, turn, prompt_id, answer_a_id, answer_b_id, a_first_text_ms, a_answer_ms, b_first_text_ms, b_answer_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [conversationID, new.turn, promptID, answerIDs[0], answerIDs[1], new.answerA.firstTextMilliseconds, new.answerA.answerMilliseconds,
                  new.answerB.firstTextMilliseconds, new.answerB.answerMilliseconds])
        return try find(id: conversationID, in: database)!
    }

    /// The labeler's choice of the better answer of the latest turn, a graded ranking of the two
    /// (checked as every ranking is); the chosen answer continues the conversation.
    public func choose(_ submission: RankingSubmission, turn: Int, conversationID: Int, labelerID: Int, in database: Database) throws -> Int {
        let conversation = try own(id: conversationID, labelerID: labelerID, in: database)
        guard let last = conversation.turns.last, last.turn == turn else {
            throw LabelingError("conversation \(conversationID) has no turn \(turn) to choose in\(conversation.turns.last.map { "; its latest is turn \($0.turn)" } ?? "")",
                                kind: conversation.turns.contains { $0.turn == turn } ? .conflict : .notFound)
        }
        guard last.chosenId == nil else {
            throw LabelingError("turn \(turn) is chosen already and the conversation went on with it; correct the ranking from your history instead", kind: .conflict)
        }
        let rankings = RankingRepository()
        let checked = try rankings.check(submission, promptID: last.promptId, in: database, allowsLiveTurns: true)
        let rankingID = try rankings.store(checked, labelerID: labelerID, in: database)
        guard let chosen = submission.entries.first(where: { $0.rank == 1 })?.candidateId else { throw LabelingError("field 'entries' must give some candidate rank 1") }
        try database.execute("UPDATE conversation_turns SET chosen_id = ? WHERE conversation_id = ? AND turn = ?", [chosen, conversationID, turn])
        return rankingID
    }

    /// Ends the conversation: no more messages. Ending one that ended already changes nothing.
    public func end(conversationID: Int, labelerID: Int, in database: Database) throws -> Conversation {
        _ = try own(id: conversationID, labelerID: labelerID, in: database)
        try database.execute("UPDATE conversations SET ended_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ? AND ended_at IS NULL", [conversationID])
        return try find(id: conversationID, in: database)!
    }

    /// The conversation a prompt is a turn of, if it is one.
    public func conversation(ofPrompt promptID: Int, in database: Database) throws -> Int? {
        try database.queryScalarInt("SELECT conversation_id FROM conversation_turns WHERE prompt_id = ?", [promptID])
    }
}
