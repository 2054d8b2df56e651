import Foundation
import JSON
import Labeling
import Cryptography
import OutgoingHTTP
import TransformerCore

/// Asks a registered OpenAI-compatible endpoint for chat completions, as OpenAI's API defines
/// them (`POST {base}/chat/completions` with `model`, `messages`, `temperature`, `top_p`,
/// `max_tokens`, `seed`). A timeout, a lost connection, a 429 or a 5xx is tried again after a
/// backoff that doubles (or as long as the server's `Retry-After` asks), up to the endpoint's
/// retries; any other answer fails at once. Every error names the endpoint and what it answered.
struct ChatCompletionsClient: Sendable {
    let endpoint: ModelEndpoint
    let apiKey: String?
    let client: HTTPClient
    let pacer: RequestPacer
    /// How a retry waits; a test replaces it to run without waiting.
    var sleep: @Sendable (Double) -> Void = { Thread.sleep(forTimeInterval: $0) }
    /// The first backoff; each retry waits twice the last, up to `longestBackoff`.
    static let firstBackoff = 1.0, longestBackoff = 60.0

    /// `tls` trusts the system's certificates (OpenSSL also reads `SSL_CERT_FILE`, for a
    /// private CA).
    init(endpoint: ModelEndpoint, apiKey: String?, tls: TLSClientContext) {
        self.endpoint = endpoint
        self.apiKey = apiKey
        client = HTTPClient(timeoutSeconds: endpoint.timeoutSeconds, tls: tls)
        pacer = RequestPacer(requestsPerMinute: endpoint.requestsPerMinute)
    }

    struct Completion: Equatable {
        let text: String
        /// The model the server says answered.
        let servedModel: String
        /// OpenAI's finish reason: "stop" when the answer ended, "length" at the token limit.
        let finishReason: String?
    }

    /// One answer to `messages`.
    func complete(_ messages: [ChatTemplate.Message], sampling: CandidateSampling, seed: UInt64) throws -> Completion {
        let response = try respond(messages, [
            ("temperature", .double(Double(sampling.temperature))),
            ("top_p", .double(Double(sampling.topP))),
            ("max_tokens", .integer(Int64(sampling.maximumNewTokens))),
            ("n", .integer(1)),
            // OpenAI takes a seed up to 2^63 - 1.
            ("seed", .integer(Int64(seed & UInt64(Int64.max)))),
        ])
        return try Self.completion(from: response, endpoint: endpoint)
    }

    /// The probability the served model gives to "A" against "B" as the first token of its
    /// reply to `question`: from the log-probabilities of its most likely first tokens
    /// (`logprobs`, `top_logprobs`), greedy and one token long. A server that gives no
    /// log-probabilities is read by its reply instead (1 for "A", 0 for "B"); any other reply
    /// fails, naming the endpoint and what it said, and is never guessed.
    func probabilityOfA(_ question: [ChatTemplate.Message]) throws -> Double {
        let response = try respond(question, [("temperature", .integer(0)), ("max_tokens", .integer(1)), ("n", .integer(1)),
                                              ("logprobs", .bool(true)), ("top_logprobs", .integer(5))])
        let reply = try Self.completion(from: response, endpoint: endpoint).text.trimmingCharacters(in: .whitespacesAndNewlines)
        var letters: [String: Double] = [:]
        if case .array(let choices)? = response["choices"], case .array(let tokens)? = choices.first?["logprobs"]?["content"],
           case .array(let top)? = tokens.first?["top_logprobs"] {
            for candidate in top {
                guard case .string(let token)? = candidate["token"], let logprob = candidate["logprob"]?.finiteNumber else { continue }
                let letter = token.trimmingCharacters(in: .whitespacesAndNewlines)
                if (letter == "A" || letter == "B") && letters[letter] == nil { letters[letter] = logprob }
            }
        }
        switch (letters["A"], letters["B"]) {
        case (let a?, let b?): return 1 / (1 + exp(b - a))
        // One letter among the likeliest tokens and the other not: the one listed dominates.
        case (_?, nil): return 1 - exp(-20)
        case (nil, _?): return exp(-20)
        case (nil, nil):
            if reply.hasPrefix("A") { return 1 }
            if reply.hasPrefix("B") { return 0 }
            throw EndpointError(endpoint: endpoint, "answered '\(reply.prefix(80))' where the letter A or B was asked")
        }
    }

    /// The body of a chat completion request for `messages` with `options`.
    private func requestBody(_ messages: [ChatTemplate.Message], _ options: [(key: String, value: JSONValue)]) throws -> [UInt8] {
        let body: [(key: String, value: JSONValue)] = [
            ("model", .string(endpoint.model)),
            ("messages", .array(messages.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) })),
        ] + options
        return Array(JSONWriter.string(.object(body)).utf8)
    }

    /// The parsed answer to a chat completion request for `messages` with `options`.
    private func respond(_ messages: [ChatTemplate.Message], _ options: [(key: String, value: JSONValue)]) throws -> JSONValue {
        let response = try send(try requestBody(messages, options))
        do { return try JSONParser.parse(response.body) } catch {
            throw EndpointError(endpoint: endpoint, "answered \(response.status) with a body that is not JSON (\(error))")
        }
    }

    /// One answer for each of `rows`, with up to the endpoint's concurrent requests in flight;
    /// the first failure ends the batch (requests under way finish) and is thrown.
    func complete(_ rows: [[ChatTemplate.Message]], sampling: CandidateSampling, seed: UInt64) throws -> [Completion] {
        let batch = CompletionBatch(count: rows.count)
        DispatchQueue.concurrentPerform(iterations: min(endpoint.concurrentRequests, rows.count)) { _ in
            while let index = batch.take() {
                // Each row its own seed, so the answers to one prompt differ.
                batch.record(Result { try complete(rows[index], sampling: sampling, seed: seed &+ UInt64(index)) }, at: index)
            }
        }
        return try batch.completions()
    }

    /// Sends one request, retrying what may succeed later.
    private func send(_ body: [UInt8]) throws -> HTTPClientResponse {
        try withRetries { headers in try client.send("POST", endpoint.chatCompletionsURL, headers: headers, body: body) }
    }

    /// The request's headers.
    private var headers: [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")]
        if let apiKey { headers.append(("Authorization", "Bearer \(apiKey)")) }
        return headers
    }

    /// Makes `attempt` until it is answered 2xx, waiting between tries as the type says; an
    /// error `attempt` throws that is not `HTTPClientError` ends the tries at once.
    private func withRetries(_ attempt: ([(name: String, value: String)]) throws -> HTTPClientResponse) throws -> HTTPClientResponse {
        var backoff = Self.firstBackoff
        var tries = 0
        while true {
            tries += 1
            pacer.waitForTurn()
            let outcome: Result<HTTPClientResponse, HTTPClientError>
            do { outcome = .success(try attempt(headers)) } catch let error as HTTPClientError { outcome = .failure(error) }
            let retryAfter: Double?
            switch outcome {
            case .success(let response) where (200...299).contains(response.status):
                return response
            case .success(let response):
                guard Self.isRetried(response.status), tries <= endpoint.retries else {
                    throw EndpointError(endpoint: endpoint, "answered \(response.status)\(Self.errorMessage(response).map { ": \($0)" } ?? "")"
                                        + (tries > 1 ? " (after \(tries) tries)" : ""))
                }
                retryAfter = response.header("Retry-After").flatMap(Double.init)
            case .failure(let error):
                guard error.isTransient, tries <= endpoint.retries else {
                    throw EndpointError(endpoint: endpoint, "could not be reached: \(error)" + (tries > 1 ? " (after \(tries) tries)" : ""))
                }
                retryAfter = nil
            }
            sleep(min(Self.longestBackoff, max(0, retryAfter ?? backoff)))
            backoff = min(Self.longestBackoff, backoff * 2)
        }
    }

    /// One answer to `messages`, its text given to `onText` piece by piece as the endpoint
    /// streams it (`"stream": true`, OpenAI's server-sent events of `delta.content`, to
    /// `data: [DONE]`). A server that answers with one JSON body instead gives its text as one
    /// piece. A failure before any text is tried again as `complete`'s are; after some text it
    /// ends the answer (a retry would repeat what was shown).
    func completeStreaming(_ messages: [ChatTemplate.Message], sampling: CandidateSampling, seed: UInt64, onText: @escaping (String) -> Void) throws -> Completion {
        let body = try requestBody(messages, [
            ("temperature", .double(Double(sampling.temperature))), ("top_p", .double(Double(sampling.topP))),
            ("max_tokens", .integer(Int64(sampling.maximumNewTokens))), ("n", .integer(1)),
            ("seed", .integer(Int64(seed & UInt64(Int64.max)))), ("stream", .bool(true)),
        ])
        var events = ServerSentEvents()
        var text = "", served = endpoint.model, finishReason: String?
        var whole: [UInt8] = []
        var isStream: Bool?
        // The text arrives through `onBody`; the response itself is only the status.
        _ = try withRetries { headers in
            guard text.isEmpty else { throw EndpointError(endpoint: endpoint, "broke off its answer after \(text.unicodeScalars.count) characters") }
            (events, whole, isStream) = (ServerSentEvents(), [], nil)
            return try client.stream("POST", endpoint.chatCompletionsURL, headers: headers, body: body) { bytes in
                // The body's first character tells a stream (`data:`) from one JSON answer (`{`).
                guard isStream != false else {
                    whole += bytes
                    return
                }
                var arrived = bytes
                if isStream == nil {
                    whole += bytes
                    guard let first = whole.first(where: { ![9, 10, 13, 32].contains($0) }) else { return }
                    isStream = first != UInt8(ascii: "{")
                    guard isStream == true else { return }
                    (arrived, whole) = (whole, [])
                }
                for data in events.take(arrived) where data != "[DONE]" {
                    let chunk: JSONValue
                    do { chunk = try JSONParser.parse(data) } catch {
                        throw EndpointError(endpoint: endpoint, "streamed an event that is not JSON: \(data.prefix(200))")
                    }
                    if case .string(let model)? = chunk["model"], !model.isEmpty { served = String(model.prefix(200)) }
                    guard case .array(let choices)? = chunk["choices"], let choice = choices.first else { continue }
                    if case .string(let piece)? = choice["delta"]?["content"], !piece.isEmpty {
                        text += piece
                        onText(piece)
                    }
                    if case .string(let reason)? = choice["finish_reason"] { finishReason = reason }
                }
            }
        }
        if isStream == false {
            let value: JSONValue
            do { value = try JSONParser.parse(whole) } catch { throw EndpointError(endpoint: endpoint, "answered with a body that is neither JSON nor a stream (\(error))") }
            let completion = try Self.completion(from: value, endpoint: endpoint)
            if !completion.text.isEmpty { onText(completion.text) }
            return completion
        }
        return Completion(text: text, servedModel: served, finishReason: finishReason)
    }

    /// Statuses that may succeed later: a timeout, a conflict, too many requests, a server error.
    static func isRetried(_ status: Int) -> Bool { status == 408 || status == 409 || status == 429 || (500...599).contains(status) }

    /// OpenAI's error shape (`{"error": {"message"}}`), else the body's start.
    static func errorMessage(_ response: HTTPClientResponse) -> String? {
        if let value = try? JSONParser.parse(response.body), case .string(let message)? = value["error"]?["message"] ?? value["error"] ?? value["detail"] {
            return String(message.prefix(500))
        }
        let text = response.bodyText.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : String(text.prefix(300))
    }

    /// The first choice's message, read from a 2xx response's JSON.
    static func completion(from value: JSONValue, endpoint: ModelEndpoint) throws -> Completion {
        let shown = String(JSONWriter.string(value).prefix(300))
        guard case .array(let choices)? = value["choices"], let choice = choices.first else {
            throw EndpointError(endpoint: endpoint, "answered without 'choices': \(shown)")
        }
        guard case .string(let text)? = choice["message"]?["content"] else {
            throw EndpointError(endpoint: endpoint, "answered a choice without 'message.content' text (a refusal or a tool call): \(shown)")
        }
        var served = endpoint.model
        if case .string(let model)? = value["model"], !model.isEmpty { served = String(model.prefix(200)) }
        var finishReason: String?
        if case .string(let reason)? = choice["finish_reason"] { finishReason = reason }
        return Completion(text: text, servedModel: served, finishReason: finishReason)
    }
}

/// Server-sent events read from bytes as they arrive: the `data` of each whole event (its
/// `data:` lines joined), lines split at their bytes so no character is cut.
struct ServerSentEvents {
    private var pending: [UInt8] = []
    private var data: [String] = []

    mutating func take(_ bytes: [UInt8]) -> [String] {
        pending += bytes
        var events: [String] = []
        while let end = pending.firstIndex(of: 10) {
            var line = String(decoding: pending[..<end], as: UTF8.self)
            pending.removeSubrange(...end)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty {
                if !data.isEmpty { events.append(data.joined(separator: "\n")) }
                data = []
            } else if line.hasPrefix("data:") {
                data.append(String(line.dropFirst(5).drop { $0 == " " }))
            }
        }
        return events
    }
}

/// An endpoint's failure, naming it and where it was asked.
struct EndpointError: Error, CustomStringConvertible {
    let description: String
    init(endpoint: ModelEndpoint, _ what: String) {
        description = "endpoint '\(endpoint.name)' (\(endpoint.chatCompletionsURL)) \(what)"
    }
}

/// The requests of one batch, handed out to the threads that send them, and what came back.
private final class CompletionBatch: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<ChatCompletionsClient.Completion, any Error>?]
    private var next = 0
    private var failure: (any Error)?

    init(count: Int) { results = Array(repeating: nil, count: count) }

    /// The next row to ask for; nil when all are taken or one has failed.
    func take() -> Int? {
        lock.withLock {
            guard next < results.count, failure == nil else { return nil }
            defer { next += 1 }
            return next
        }
    }

    func record(_ result: Result<ChatCompletionsClient.Completion, any Error>, at index: Int) {
        lock.withLock {
            results[index] = result
            if case .failure(let error) = result, failure == nil { failure = error }
        }
    }

    func completions() throws -> [ChatCompletionsClient.Completion] {
        try lock.withLock {
            if let failure { throw failure }
            return try results.map { try $0!.get() }
        }
    }
}

/// Spaces out the starts of requests to at most a number per minute, across threads.
final class RequestPacer: @unchecked Sendable {
    private let interval: Double?
    private let lock = NSLock()
    private var nextStart = Date.distantPast

    init(requestsPerMinute: Int?) { interval = requestsPerMinute.map { 60 / Double($0) } }

    func waitForTurn() {
        guard let interval else { return }
        let wait = lock.withLock { () -> Double in
            let now = Date()
            let start = max(now, nextStart)
            nextStart = start.addingTimeInterval(interval)
            return start.timeIntervalSince(now)
        }
        if wait > 0 { Thread.sleep(forTimeInterval: wait) }
    }
}
