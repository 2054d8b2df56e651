import BackgroundTraining
import Cryptography
import Foundation
import HTTP
import JSON
import Labeling
import Storage
import TransformerCore

/// The OpenAI-compatible API (Docs/openai.md): the registered policy versions answer chat
/// completions by name, so that the `openai` client, curl and tools built on them talk to
/// Tally as they would to OpenAI or vLLM.
///
/// | route | who |
/// |---|---|
/// | `GET /v1/models` | admin, researcher (API token or session) |
/// | `POST /v1/chat/completions` | admin, researcher |
///
/// Errors take OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`. A setting
/// Tally does not implement is refused by name, never ignored.
struct OpenAIRoutes: Sendable {
    let database: DatabasePool
    let authenticator: Authenticator
    let generator: ChatGenerator

    /// What a request may name; `user` is the caller's end-user id, which changes nothing.
    static let knownFields: Set<String> = ["model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "stop", "seed",
                                           "logprobs", "top_logprobs", "stream", "stream_options", "user", "frequency_penalty", "presence_penalty"]
    static let maximumChoices = 8

    func register(in router: inout Router) {
        let routes = self
        router.get("/v1/models", openAIShaped { _, _ in
            let versions = try routes.database.read { try ModelVersionRepository().all(in: $0) }.filter { $0.kind != "reward" }
            return Self.json(.object([("object", .string("list")), ("data", .array(versions.map(Self.modelObject)))]))
        })
        router.post("/v1/chat/completions", openAIShaped { request, _ in
            try routes.chatCompletion(request)
        })
    }

    // MARK: Chat completions

    private struct Completion {
        var request: ChatRequest
        var model: ModelVersion
        var stream = false
        var includeUsage = false
    }

    private func chatCompletion(_ request: Request) throws -> Response {
        let body = try request.jsonBody()
        let completion = try parse(body)
        let id = "chatcmpl-" + Hex.encode(SecureRandom.bytes(count: 12))
        let created = Int64(Date().timeIntervalSince1970)
        let header: [(key: String, value: JSONValue)] = [("id", .string(id)), ("created", .integer(created)), ("model", .string(completion.model.name)),
                                                         ("system_fingerprint", .string("tally-" + completion.model.checkpointSha256.prefix(12)))]
        let generator = self.generator
        if completion.stream {
            let stream = EventStream()
            return .deferred { respond in
                let answer = Once(respond)
                do {
                    try generator.submit(completion.request, from: completion.model, isCancelled: { stream.isCancelled }) { event in
                        switch event {
                        case .success(.started):
                            answer.give(.success(.eventStream(stream)))
                            for choice in 0..<completion.request.choices {
                                stream.send(data: Self.chunk(header, choice: choice, delta: [("role", .string("assistant")), ("content", .string(""))],
                                                             includeUsage: completion.includeUsage))
                            }
                        case .success(.text(let choice, let text, let tokens)):
                            stream.send(data: Self.chunk(header, choice: choice, delta: [("content", .string(text))],
                                                         logprobs: completion.request.logProbabilities ? Self.logprobs(tokens) : .null, includeUsage: completion.includeUsage))
                        case .success(.finished(let promptTokens, let choices)):
                            for (index, choice) in choices.enumerated() {
                                stream.send(data: Self.chunk(header, choice: index, delta: [], finishReason: choice.finishReason, includeUsage: completion.includeUsage))
                            }
                            if completion.includeUsage {
                                stream.send(data: JSONWriter.string(.object([("object", .string("chat.completion.chunk"))] + header
                                                                            + [("choices", .array([])), ("usage", Self.usage(promptTokens, choices))])))
                            }
                            stream.send(data: "[DONE]")
                            stream.finish()
                        case .failure(let error):
                            // Before the stream began the error is the answer; after, its last event.
                            if !answer.give(.success(Self.errorResponse(OpenAIError(error)))) {
                                stream.send(data: JSONWriter.string(Self.errorBody(OpenAIError(error))))
                                stream.finish()
                            }
                        }
                    }
                } catch let error as ChatGenerationError {
                    answer.give(.success(Self.errorResponse(OpenAIError(error))))
                } catch {
                    answer.give(.failure(error))
                }
            }
        }
        return .deferred { respond in
            let answer = Once(respond)
            do {
                try generator.submit(completion.request, from: completion.model) { event in
                    switch event {
                    case .success(.finished(let promptTokens, let choices)):
                        let objects: [JSONValue] = choices.enumerated().map { index, choice in
                            .object([("index", .integer(Int64(index))),
                                     ("message", .object([("role", .string("assistant")), ("content", .string(choice.text))])),
                                     ("logprobs", completion.request.logProbabilities ? Self.logprobs(choice.tokens) : .null),
                                     ("finish_reason", .string(choice.finishReason))])
                        }
                        answer.give(.success(Self.json(.object([("object", .string("chat.completion"))] + header
                                                                + [("choices", .array(objects)), ("usage", Self.usage(promptTokens, choices))]))))
                    case .success:
                        break
                    case .failure(let error):
                        answer.give(.success(Self.errorResponse(OpenAIError(error))))
                    }
                }
            } catch let error as ChatGenerationError {
                answer.give(.success(Self.errorResponse(OpenAIError(error))))
            } catch {
                answer.give(.failure(error))
            }
        }
    }

    /// The request, checked field by field: a wrong value names its field, a setting Tally
    /// does not implement is refused.
    private func parse(_ body: JSONValue) throws -> Completion {
        guard case .object(let members) = body else { throw OpenAIError(.badRequest, "The body must be a JSON object.", code: "invalid_json") }
        if let unknown = members.first(where: { !Self.knownFields.contains($0.key) }) {
            throw OpenAIError(.badRequest, "Tally does not support the parameter '\(unknown.key)'.", parameter: unknown.key, code: "unsupported_parameter")
        }
        guard case .string(let name)? = body["model"] else { throw OpenAIError(.badRequest, "'model' must name a model (GET /v1/models lists them).", parameter: "model") }
        guard let version = try database.read({ try ModelVersionRepository().find(name: name, in: $0) }), version.kind != "reward" else {
            throw OpenAIError(.notFound, "The model '\(name)' does not exist (GET /v1/models lists them).", parameter: "model", code: "model_not_found")
        }
        var request = ChatRequest(messages: try Self.messages(body["messages"]))
        if let value = try Self.number(body, "temperature") {
            guard (0...2).contains(value) else { throw OpenAIError(.badRequest, "'temperature' must be from 0 to 2, not \(value).", parameter: "temperature") }
            request.temperature = Float(value)
        }
        if let value = try Self.number(body, "top_p") {
            guard value > 0, value <= 1 else { throw OpenAIError(.badRequest, "'top_p' must be above 0 and at most 1, not \(value).", parameter: "top_p") }
            request.topP = Float(value)
        }
        for field in ["frequency_penalty", "presence_penalty"] {
            if let value = try Self.number(body, field), value != 0 {
                throw OpenAIError(.badRequest, "Tally does not apply '\(field)'; send 0 or leave it out.", parameter: field, code: "unsupported_parameter")
            }
        }
        let limit = try Self.integer(body, "max_completion_tokens") ?? Self.integer(body, "max_tokens")
        if let limit {
            guard limit >= 1 else { throw OpenAIError(.badRequest, "'max_completion_tokens' (or 'max_tokens') must be at least 1, not \(limit).", parameter: "max_completion_tokens") }
            request.maximumTokens = limit
        }
        if let count = try Self.integer(body, "n") {
            guard (1...Self.maximumChoices).contains(count) else { throw OpenAIError(.badRequest, "'n' must be from 1 to \(Self.maximumChoices), not \(count).", parameter: "n") }
            request.choices = count
        }
        switch body["stop"] {
        case nil, .null?: break
        case .string(let text)?: request.stop = [text]
        case .array(let values)? where values.count <= 4:
            request.stop = try values.map { value in
                guard case .string(let text) = value else { throw OpenAIError(.badRequest, "'stop' must be a string or up to 4 strings.", parameter: "stop") }
                return text
            }
        default: throw OpenAIError(.badRequest, "'stop' must be a string or up to 4 strings.", parameter: "stop")
        }
        if let seed = try Self.integer(body, "seed", allowsNegative: true) { request.seed = UInt64(bitPattern: Int64(seed)) }
        request.logProbabilities = try Self.flag(body, "logprobs") ?? false
        if let top = try Self.integer(body, "top_logprobs"), top > 0 {
            throw OpenAIError(.badRequest, "Tally reports the sampled token's log-probability only; 'top_logprobs' must be 0.", parameter: "top_logprobs", code: "unsupported_parameter")
        }
        var completion = Completion(request: request, model: version)
        completion.stream = try Self.flag(body, "stream") ?? false
        switch body["stream_options"] {
        case nil, .null?: break
        case .object(let options)?:
            guard completion.stream else { throw OpenAIError(.badRequest, "'stream_options' is allowed only with 'stream': true.", parameter: "stream_options") }
            if let unknown = options.first(where: { $0.key != "include_usage" }) {
                throw OpenAIError(.badRequest, "Tally does not support 'stream_options.\(unknown.key)'.", parameter: "stream_options", code: "unsupported_parameter")
            }
            guard case .bool(let include)? = body["stream_options"]?["include_usage"] ?? .bool(false) else {
                throw OpenAIError(.badRequest, "'stream_options.include_usage' must be true or false.", parameter: "stream_options")
            }
            completion.includeUsage = include
        default: throw OpenAIError(.badRequest, "'stream_options' must be an object.", parameter: "stream_options")
        }
        return completion
    }

    /// OpenAI's messages: `role` system, user or assistant (developer is read as system), and
    /// `content` a string or text parts.
    private static func messages(_ value: JSONValue?) throws -> [ChatTemplate.Message] {
        guard case .array(let values)? = value, !values.isEmpty else { throw OpenAIError(.badRequest, "'messages' must be a non-empty array.", parameter: "messages") }
        return try values.enumerated().map { index, message in
            guard case .string(var role)? = message["role"] else { throw OpenAIError(.badRequest, "'messages[\(index)].role' must be a string.", parameter: "messages") }
            if role == "developer" { role = "system" }
            guard Turn.roles.contains(role) else {
                throw OpenAIError(.badRequest, "'messages[\(index)].role' must be system, developer, user or assistant, not '\(role)'.", parameter: "messages")
            }
            switch message["content"] {
            case .string(let text)?: return ChatTemplate.Message(role: role, content: text)
            case .array(let parts)?:
                let texts = try parts.map { part -> String in
                    guard case .string("text")? = part["type"], case .string(let text)? = part["text"] else {
                        throw OpenAIError(.badRequest, "'messages[\(index)].content' may hold text parts only ({\"type\": \"text\", \"text\": ...}).", parameter: "messages")
                    }
                    return text
                }
                return ChatTemplate.Message(role: role, content: texts.joined())
            default: throw OpenAIError(.badRequest, "'messages[\(index)].content' must be a string or an array of text parts.", parameter: "messages")
            }
        }
    }

    private static func number(_ body: JSONValue, _ name: String) throws -> Double? {
        switch body[name] {
        case nil, .null?: return nil
        case .integer(let value)?: return Double(value)
        case .double(let value)? where value.isFinite: return value
        default: throw OpenAIError(.badRequest, "'\(name)' must be a number.", parameter: name)
        }
    }

    private static func integer(_ body: JSONValue, _ name: String, allowsNegative: Bool = false) throws -> Int? {
        switch body[name] {
        case nil, .null?: return nil
        case .integer(let value)? where (allowsNegative || value >= 0) && value <= Int64(Int32.max) && value >= Int64(Int32.min): return Int(value)
        default: throw OpenAIError(.badRequest, "'\(name)' must be a whole number\(allowsNegative ? "" : " of at least 0").", parameter: name)
        }
    }

    private static func flag(_ body: JSONValue, _ name: String) throws -> Bool? {
        switch body[name] {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default: throw OpenAIError(.badRequest, "'\(name)' must be true or false.", parameter: name)
        }
    }

    // MARK: What is sent

    private static func modelObject(_ version: ModelVersion) -> JSONValue {
        let created = ISO8601DateFormatter().date(from: version.createdAt.replacingOccurrences(of: #"\.\d+"#, with: "", options: .regularExpression))
        return .object([("id", .string(version.name)), ("object", .string("model")), ("created", .integer(Int64(created?.timeIntervalSince1970 ?? 0))),
                        ("owned_by", .string("tally")), ("kind", .string(version.kind))])
    }

    private static func chunk(_ header: [(key: String, value: JSONValue)], choice: Int, delta: [(key: String, value: JSONValue)],
                              logprobs: JSONValue = .null, finishReason: String? = nil, includeUsage: Bool) -> String {
        var members: [(key: String, value: JSONValue)] = [("object", .string("chat.completion.chunk"))] + header
        members.append(("choices", .array([.object([("index", .integer(Int64(choice))), ("delta", .object(delta)), ("logprobs", logprobs),
                                                    ("finish_reason", finishReason.map(JSONValue.string) ?? .null)])])))
        if includeUsage { members.append(("usage", .null)) }
        return JSONWriter.string(.object(members))
    }

    private static func logprobs(_ tokens: [TokenLogProbability]) -> JSONValue {
        .object([("content", .array(tokens.map { token in
            .object([("token", .string(token.token)), ("logprob", .double(Double(token.logProbability))),
                     ("bytes", .array(token.bytes.map { .integer(Int64($0)) })), ("top_logprobs", .array([]))])
        }))])
    }

    private static func usage(_ promptTokens: Int, _ choices: [ChatChoice]) -> JSONValue {
        let completionTokens = choices.reduce(0) { $0 + $1.tokenCount }
        return .object([("prompt_tokens", .integer(Int64(promptTokens))), ("completion_tokens", .integer(Int64(completionTokens))),
                        ("total_tokens", .integer(Int64(promptTokens + completionTokens)))])
    }

    private static func json(_ value: JSONValue, status: HTTPStatus = .ok) -> Response {
        var output: [UInt8] = []
        JSONWriter.write(value, into: &output)
        return Response(status: status, contentType: "application/json", body: output)
    }

    // MARK: Errors in OpenAI's shape

    /// Wraps a handler so that every error, the sign-in's included, is answered in OpenAI's shape.
    private func openAIShaped(_ handler: @escaping @Sendable (Request, SignedInUser) throws -> Response) -> Handler {
        let inner = authenticator.require([.admin, .researcher], handler)
        return { request in
            do { return try inner(request) } catch let error as OpenAIError {
                return Self.errorResponse(error)
            } catch let error as HTTPError {
                return Self.errorResponse(OpenAIError(error))
            }
        }
    }

    static func errorBody(_ error: OpenAIError) -> JSONValue {
        .object([("error", .object([("message", .string(error.message)), ("type", .string(error.type)),
                                    ("param", error.parameter.map(JSONValue.string) ?? .null), ("code", error.code.map(JSONValue.string) ?? .null)]))])
    }

    static func errorResponse(_ error: OpenAIError) -> Response {
        var response = json(errorBody(error), status: error.status)
        if let seconds = error.retryAfterSeconds { response.headers["Retry-After"] = String(seconds) }
        return response
    }
}

/// An error as OpenAI's API gives it.
struct OpenAIError: Error {
    let status: HTTPStatus
    let message: String
    let parameter: String?
    let code: String?
    var retryAfterSeconds: Int?

    init(_ status: HTTPStatus, _ message: String, parameter: String? = nil, code: String? = nil) {
        (self.status, self.message, self.parameter, self.code) = (status, message, parameter, code)
    }

    init(_ error: HTTPError) {
        self.init(error.status, error.message, code: error.code)
    }

    init(_ error: ChatGenerationError) {
        switch error.kind {
        case .invalidRequest: self.init(.badRequest, error.message, parameter: error.parameter)
        case .queueFull:
            self.init(.tooManyRequests, error.message, code: "rate_limit_exceeded")
            retryAfterSeconds = error.retryAfterSeconds
        case .failed: self.init(.internalServerError, error.message)
        }
    }

    /// OpenAI's error types by status.
    var type: String {
        switch status.code {
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404, 400, 409, 415, 422: "invalid_request_error"
        case 429: "rate_limit_error"
        default: "server_error"
        }
    }
}
