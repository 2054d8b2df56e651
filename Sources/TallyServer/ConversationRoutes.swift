import BackgroundTraining
import Cryptography
import Foundation
import HTTP
import JSON
import Labeling
import Storage
import TransformerCore

/// Live conversations (Docs/labeling.md): a labeler writes a message, two model versions (or two
/// samples of one) answer it as the text is generated, the labeler picks the better on the graded
/// pair's scale, and the chosen answer continues the conversation. Every turn is stored as a
/// prompt (the conversation so far) with its two answers and the labeler's ranking of them.
///
/// | route | who |
/// |---|---|
/// | `GET /api/projects/{id}/live-settings`, `PUT` | admin, researcher |
/// | `GET /api/projects/{id}/conversations` (the labeler's own) | labeler |
/// | `POST /api/projects/{id}/conversations` (start one) | labeler |
/// | `GET /api/conversations/{id}` | labeler (their own) |
/// | `POST /api/conversations/{id}/messages` (answered as server-sent events) | labeler |
/// | `POST /api/conversations/{id}/turns/{turn}/choice` | labeler |
/// | `POST /api/conversations/{id}/end` | labeler |
///
/// The answers of a message arrive as `answer` events (`{"side": "a", "text": "..."}`, pieces
/// in order), then one `turn` event with the stored turn, or an `error` event. The labeler is
/// never told which versions answer.
struct ConversationRoutes: Sendable {
    let database: DatabasePool
    let submissions: GroupCommit
    let authenticator: Authenticator
    let generator: ChatGenerator
    /// Conversations whose answers are being written: one message at a time each.
    let generating = ConversationsAnswering()

    struct Message: Decodable { let content: String }
    struct Created: Encodable { let id: Int }
    struct ConversationList: Encodable {
        /// Whether the project has models to converse with.
        let available: Bool
        let conversations: [ConversationSummary]
    }
    struct ConversationView: Encodable {
        let id: Int
        let projectId: Int
        let startedAt: String
        let endedAt: String?
        let awaitsMessage: Bool
        let maximumTurns: Int
        let turns: [ConversationTurn]

        init(_ conversation: Conversation) {
            (id, projectId, startedAt, endedAt, awaitsMessage, turns) =
                (conversation.id, conversation.projectId, conversation.startedAt, conversation.endedAt, conversation.awaitsMessage, conversation.turns)
            maximumTurns = ConversationRepository.maximumTurns
        }
    }

    func register(in router: inout Router) {
        let routes = self
        router.get("/api/projects/{id}/live-settings", authenticator.require([.admin, .researcher]) { request, _ in
            let projectID = try pathIdentifier(request)
            return try .json(try routes.database.read { database in
                guard try ProjectRepository().find(id: projectID, in: database) != nil else { throw HTTPError.notFound("There is no project \(projectID).") }
                return try LiveConversationSettingsRepository().find(projectID: projectID, in: database) ?? LiveConversationSettings(modelIds: [])
            })
        })
        router.put("/api/projects/{id}/live-settings", authenticator.require([.admin, .researcher]) { request, signedIn in
            let projectID = try pathIdentifier(request)
            let change = try request.decodeJSON(LiveConversationSettingsChange.self)
            return try .json(try routes.submissions.write { database in
                let saved = try LiveConversationSettingsRepository().save(change, projectID: projectID, in: database)
                try AuditLog().record(action: "project.live_settings", actorUserID: signedIn.user.id, subject: "project:\(projectID)",
                                      detail: "modelIds=\(change.modelIds)", in: database)
                return saved ?? LiveConversationSettings(modelIds: [])
            })
        })
        router.get("/api/projects/{id}/conversations", authenticator.require([.labeler]) { request, signedIn in
            let projectID = try pathIdentifier(request)
            return try .json(try routes.database.read { database in
                guard try ProjectRepository().find(id: projectID, in: database) != nil else { throw HTTPError.notFound("There is no project \(projectID).") }
                return ConversationList(available: try LiveConversationSettingsRepository().find(projectID: projectID, in: database) != nil,
                                        conversations: try ConversationRepository().list(projectID: projectID, labelerID: signedIn.user.id, in: database))
            })
        })
        router.post("/api/projects/{id}/conversations", authenticator.require([.labeler]) { request, signedIn in
            let projectID = try pathIdentifier(request)
            let conversation = try routes.submissions.write { database in
                var random = SystemRandomNumberGenerator()
                return try ConversationRepository().start(projectID: projectID, labelerID: signedIn.user.id, using: &random, in: database)
            }
            return try .json(ConversationView(conversation), status: .created)
        })
        router.get("/api/conversations/{id}", authenticator.require([.labeler]) { request, signedIn in
            let id = try pathIdentifier(request)
            return try .json(ConversationView(try routes.database.read { try ConversationRepository().own(id: id, labelerID: signedIn.user.id, in: $0) }))
        })
        router.post("/api/conversations/{id}/messages", authenticator.require([.labeler]) { request, signedIn in
            try routes.answer(request, labelerID: signedIn.user.id)
        })
        router.post("/api/conversations/{id}/turns/{turn}/choice", authenticator.require([.labeler]) { request, signedIn in
            let id = try pathIdentifier(request)
            let turn = try pathIdentifier(request, "turn")
            let submission = try request.decodeJSON(RankingSubmission.self)
            let rankingID = try routes.submissions.write {
                try ConversationRepository().choose(submission, turn: turn, conversationID: id, labelerID: signedIn.user.id, in: $0)
            }
            return try .json(Created(id: rankingID), status: .created)
        })
        router.post("/api/conversations/{id}/end", authenticator.require([.labeler]) { request, signedIn in
            let id = try pathIdentifier(request)
            return try .json(ConversationView(try routes.submissions.write { try ConversationRepository().end(conversationID: id, labelerID: signedIn.user.id, in: $0) }))
        })
    }

    // MARK: Answering a message

    /// Checks the message, queues both answers and answers with their event stream; the turn is
    /// stored once both answers are whole. A labeler who goes away mid-answer stops generation,
    /// and nothing is stored: the message can be sent again.
    private func answer(_ request: Request, labelerID: Int) throws -> Response {
        let conversationID = try pathIdentifier(request)
        let message = try request.decodeJSON(Message.self).content
        guard !message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw LabelingError("field 'content' must hold the message") }
        try TextLimits.check(message, field: "content", limit: TextLimits.content)
        let (conversation, sources) = try database.read { database -> (Conversation, [LiveTurnGeneration.Source]) in
            let repository = ConversationRepository()
            let conversation = try repository.own(id: conversationID, labelerID: labelerID, in: database)
            if let refusal = repository.refusalOfMessage(conversation) { throw refusal }
            let sources = try conversation.answerers.map { answerer -> LiveTurnGeneration.Source in
                switch answerer {
                case .model(let id):
                    guard let version = try ModelVersionRepository().find(id: id, in: database) else {
                        throw LabelingError("a model version of conversation \(conversationID) is gone; start a new conversation", kind: .conflict)
                    }
                    return .version(version)
                case .endpoint(let id):
                    guard let endpoint = try ModelEndpointRepository().find(id: id, in: database), endpoint.removedAt == nil else {
                        throw LabelingError("an endpoint of conversation \(conversationID) was removed; start a new conversation", kind: .conflict)
                    }
                    return .endpoint(try EndpointChat(endpoint: endpoint, apiKey: try ModelEndpointRepository().apiKey(endpointID: id, in: database)))
                }
            }
            return (conversation, sources)
        }
        guard generating.begin(conversationID) else {
            throw LabelingError("the answers to your last message in conversation \(conversationID) are still being written", kind: .conflict)
        }
        let generating = self.generating
        let release: @Sendable () -> Void = { generating.end(conversationID) }
        let turn = conversation.turns.count + 1
        var generationRequest = ChatRequest(messages: conversation.messages(continuingWith: message).map { ChatTemplate.Message(role: $0.role, content: $0.content) })
        generationRequest.temperature = Float(conversation.temperature)
        generationRequest.maximumTokens = conversation.maximumTokens
        let chat = generationRequest
        let submissions = self.submissions
        return .deferred { respond in
            let answer = Once(respond)
            let stream = EventStream()
            let generation = LiveTurnGeneration(stream: stream) { result in
                switch result {
                case .success(let answers):
                    let new = NewConversationTurn(
                        turn: turn, message: message, promptHash: SHA256.hexDigest("live\u{0}\(conversationID)\u{0}\(turn)"),
                        answerA: Self.answer(answers, .a), answerB: Self.answer(answers, .b))
                    submissions.write({ try ConversationRepository().addTurn(new, conversationID: conversationID, labelerID: labelerID, in: $0) }) { stored in
                        release()
                        switch stored {
                        case .success(let conversation):
                            if let stored = conversation.turns.last, let data = try? JSONValueEncoder().encode(stored) {
                                stream.send(event: "turn", data: String(decoding: data, as: UTF8.self))
                            }
                        case .failure(let error):
                            stream.send(event: "error", data: Self.errorData(error))
                        }
                        stream.finish()
                    }
                case .failure(let error):
                    release()
                    // Before the stream began the error is the answer; after, its last event.
                    if !answer.give(.failure(Self.httpError(error))) {
                        stream.send(event: "error", data: Self.errorData(Self.httpError(error)))
                        stream.finish()
                    }
                }
            }
            stream.onCancel(release)
            do {
                try generation.submit(chat, a: sources[0], b: sources[1], to: generator) { begun in
                    if case .success = begun { answer.give(.success(.eventStream(stream))) }
                }
            } catch let error as ChatGenerationError {
                release()
                answer.give(.failure(Self.httpError(error)))
            } catch {
                release()
                answer.give(.failure(error))
            }
        }
    }

    private static func answer(_ answers: LiveTurnGeneration.Answers, _ side: LiveTurnGeneration.Side) -> NewConversationTurn.Answer {
        let text = answers.texts[side.rawValue]
        return NewConversationTurn.Answer(text: text, contentHash: SHA256.hexDigest("live\u{0}\(side.name)\u{0}" + text),
                                          firstTextMilliseconds: answers.firstTextMilliseconds[side.rawValue],
                                          answerMilliseconds: answers.answerMilliseconds[side.rawValue])
    }

    /// A generation refused or failed, as the labeler's page is told it.
    static func httpError(_ error: ChatGenerationError) -> HTTPError {
        switch error.kind {
        case .queueFull:
            return HTTPError(.tooManyRequests, code: "generation_queue_full", message: "The models are busy: \(error.message).",
                             headers: HTTPHeaders([("Retry-After", String(error.retryAfterSeconds ?? 5))]))
        case .invalidRequest:
            return HTTPError(.conflict, code: "conversation_too_long",
                             message: "The models cannot answer this conversation: \(error.message). Start a new conversation.")
        case .failed:
            return HTTPError(.serviceUnavailable, code: "generation_failed", message: "The answers could not be written: \(error.message).")
        }
    }

    static func errorData(_ error: any Error) -> String {
        let http = (error as? any HTTPErrorConvertible)?.httpError ?? HTTPError(.internalServerError, code: "internal_error", message: "The turn could not be stored.")
        return JSONWriter.string(.object([("error", .object([("code", .string(http.code)), ("message", .string(http.message))]))]))
    }
}

/// The conversations whose answers are being written now, so that a second message sent at
/// once (another tab, a double click) is refused before it costs a generation.
final class ConversationsAnswering: @unchecked Sendable {
    private let lock = NSLock()
    private var answering: Set<Int> = []

    /// Marks the conversation as answering; false when it is already.
    func begin(_ id: Int) -> Bool { lock.withLock { answering.insert(id).inserted } }
    func end(_ id: Int) { _ = lock.withLock { answering.remove(id) } }
}
