import Foundation
import Labeling
import TransformerCore

/// What a chat completion asks of a model version (the OpenAI-compatible routes' request,
/// checked).
public struct ChatRequest: Sendable {
    public var messages: [ChatTemplate.Message]
    /// 0 picks the most likely token.
    public var temperature: Float = 1
    public var topP: Float = 1
    /// Tokens per answer at most (default: `ChatGenerator.Configuration.defaultMaximumTokens`,
    /// cut to what the context leaves).
    public var maximumTokens: Int?
    /// Answers to the same prompt, decoded together.
    public var choices = 1
    /// Texts that end an answer where they begin (they are not part of it).
    public var stop: [String] = []
    public var seed: UInt64?
    public var logProbabilities = false

    public init(messages: [ChatTemplate.Message]) { self.messages = messages }
}

/// One sampled token, as OpenAI's `logprobs` report it.
public struct TokenLogProbability: Sendable, Equatable {
    public let token: String
    public let logProbability: Float
    public let bytes: [UInt8]
}

/// One finished answer.
public struct ChatChoice: Sendable {
    public let text: String
    /// `stop` (the end-of-turn token or a stop text) or `length` (the token limit).
    public let finishReason: String
    public let tokens: [TokenLogProbability]
    public let tokenCount: Int
}

/// What generation reports, in order: `started` once the prompt is known to fit, `text` as
/// each answer grows, then `finished`.
public enum ChatEvent: Sendable {
    case started(promptTokens: Int)
    case text(choice: Int, text: String, tokens: [TokenLogProbability])
    case finished(promptTokens: Int, choices: [ChatChoice])
}

/// A request the generator refuses or cannot serve, with what a client should be told.
public struct ChatGenerationError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case invalidRequest, queueFull, failed }
    public let kind: Kind
    public let message: String
    /// The request field at fault, where there is one.
    public let parameter: String?
    public let retryAfterSeconds: Int?

    init(_ kind: Kind, _ message: String, parameter: String? = nil, retryAfterSeconds: Int? = nil) {
        (self.kind, self.message, self.parameter, self.retryAfterSeconds) = (kind, message, parameter, retryAfterSeconds)
    }

    public var description: String { message }
}

/// Chat completions from registered policy versions, for the OpenAI-compatible routes and live
/// conversations: one generation at a time on a thread of its own (or two from two versions at
/// once, a live conversation's two sides, each on half the kernel threads), its kernels on a pool at normal priority (a
/// training job's threads run at nice 10, so interactive generation comes first when both
/// want the cores), requests waiting in a bounded queue (a full queue is refused at once, so
/// that generation never piles up behind the labelers' requests), and the models last used
/// kept loaded.
public final class ChatGenerator: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Requests that may wait beside the one running; the next is refused.
        public var queueCapacity = 8
        /// Threads of generation's kernel pool.
        public var threads = ComputeThreads.maximumCount
        /// Model versions kept loaded (a SmolLM2-135M takes about 540 MB).
        public var loadedModels = 2
        /// Tokens per answer when the request names no limit.
        public var defaultMaximumTokens = 512

        public init() {}
    }

    /// One generation a request asks for.
    public struct Generation: Sendable {
        public let request: ChatRequest
        public let version: ModelVersion
        public let events: @Sendable (Result<ChatEvent, ChatGenerationError>) -> Void

        public init(_ request: ChatRequest, from version: ModelVersion, events: @escaping @Sendable (Result<ChatEvent, ChatGenerationError>) -> Void) {
            (self.request, self.version, self.events) = (request, version, events)
        }
    }

    /// What waits in the queue: one generation, or two to run together.
    private struct Waiting {
        let generations: [Generation]
        let isCancelled: @Sendable () -> Bool
    }

    public let configuration: Configuration
    private let condition = NSCondition()
    private var queue: [Waiting] = []
    private var stopping = false
    private var thread: Thread?
    /// Loaded models, most recently used last; touched only by the generation thread.
    private var loaded: [(key: String, model: PretrainedModel)] = []
    /// Seconds the last generations took, for the Retry-After of a refusal.
    private var recentSeconds: Double = 5
    /// The two halves of the kernel threads that two generations run on together, made when
    /// first needed; touched only by the generation thread.
    private var halves: [ComputeThreads]?
    /// Pairs of generations that ran at once (two loaded models), and in turn (one model).
    private var pairs = (together: 0, inTurn: 0)

    /// How the pairs of generations ran so far: at once, or one after the other.
    public var pairsRun: (together: Int, inTurn: Int) { condition.withLock { pairs } }

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Requests waiting, the one running not counted.
    public var waitingCount: Int { condition.withLock { queue.count } }

    /// Queues a generation from `version`. `events` hears it start, grow and finish, or the
    /// error that ended it; `isCancelled` is asked between tokens (a client that went away).
    /// Throws a `queueFull` error at once when the queue holds `queueCapacity` requests.
    public func submit(_ request: ChatRequest, from version: ModelVersion, isCancelled: @escaping @Sendable () -> Bool = { false },
                       events: @escaping @Sendable (Result<ChatEvent, ChatGenerationError>) -> Void) throws {
        try enqueue(Waiting(generations: [Generation(request, from: version, events: events)], isCancelled: isCancelled))
    }

    /// Queues two generations from two versions to run at once (a live conversation's two
    /// sides, so both answers grow together): each on half the kernel threads. Two versions of
    /// the same weights (one loaded model) run one after the other instead. Refused as `submit`.
    public func submitTogether(_ first: Generation, _ second: Generation, isCancelled: @escaping @Sendable () -> Bool = { false }) throws {
        try enqueue(Waiting(generations: [first, second], isCancelled: isCancelled))
    }

    private func enqueue(_ waiting: Waiting) throws {
        try condition.withLock {
            guard !stopping else { throw ChatGenerationError(.failed, "the server is shutting down") }
            guard queue.count < configuration.queueCapacity else {
                let wait = max(1, Int((recentSeconds * Double(queue.count + 1)).rounded(.up)))
                throw ChatGenerationError(.queueFull, "\(queue.count) generations are waiting already; try again in \(wait) s", retryAfterSeconds: wait)
            }
            queue.append(waiting)
            if thread == nil { startThread() }
            condition.signal()
        }
    }

    /// Fails what waits and ends the thread after the generation under way.
    public func stop() {
        let abandoned = condition.withLock {
            stopping = true
            condition.broadcast()
            defer { queue = [] }
            return queue
        }
        for generation in abandoned.flatMap(\.generations) { generation.events(.failure(ChatGenerationError(.failed, "the server is shutting down"))) }
    }

    private func startThread() {
        let thread = Thread { [self] in
            let compute = ComputeThreads(count: configuration.threads, priority: .normal)
            while let next = take() {
                let started = Date()
                compute.run { generate(next) }
                condition.withLock { recentSeconds = 0.7 * recentSeconds + 0.3 * Date().timeIntervalSince(started) }
            }
        }
        thread.name = "tally.generation"
        thread.stackSize = 16 << 20
        self.thread = thread
        thread.start()
    }

    private func take() -> Waiting? {
        condition.withLock {
            while queue.isEmpty && !stopping { condition.wait() }
            return stopping ? nil : queue.removeFirst()
        }
    }

    // MARK: One generation

    private func generate(_ waiting: Waiting) {
        guard waiting.generations.count == 2 else {
            generate(waiting.generations[0], isCancelled: waiting.isCancelled)
            return
        }
        // Both models loaded first (the cache is the generation thread's alone), then each
        // generation on its half of the kernel threads; one model (the same weights) in turn.
        let models = waiting.generations.map { generation in Result { try model(for: generation.version) } }
        if case .success(let first) = models[0], case .success(let second) = models[1], (first.model as AnyObject) !== (second.model as AnyObject), configuration.threads >= 2 {
            if halves == nil {
                let half = configuration.threads / 2
                halves = [ComputeThreads(count: half, priority: .normal), ComputeThreads(count: configuration.threads - half, priority: .normal)]
            }
            let halves = self.halves!
            condition.withLock { pairs.together += 1 }
            // Each thread decodes with its own model only, so the two never share one.
            nonisolated(unsafe) let policies = [first, second]
            DispatchQueue.concurrentPerform(iterations: 2) { index in
                halves[index].run { generate(waiting.generations[index], isCancelled: waiting.isCancelled, policy: policies[index]) }
            }
        } else {
            condition.withLock { pairs.inTurn += 1 }
            for generation in waiting.generations { generate(generation, isCancelled: waiting.isCancelled) }
        }
    }

    /// One generation, its model loaded here unless given.
    private func generate(_ waiting: Generation, isCancelled: @escaping @Sendable () -> Bool, policy loaded: PretrainedModel? = nil) {
        let request = waiting.request
        do {
            guard !isCancelled() else { return }
            let policy = try loaded ?? model(for: waiting.version)
            guard policy.chatTemplate != nil else {
                throw ChatGenerationError(.invalidRequest, "model '\(waiting.version.name)' has no chat template, so it cannot answer chat messages", parameter: "model")
            }
            let prompt: [Int32]
            do { prompt = try policy.promptTokens(request.messages) } catch {
                throw ChatGenerationError(.invalidRequest, "the messages do not fit the model's chat template: \(error)", parameter: "messages")
            }
            let context = policy.model.contextLength
            let maximum = request.maximumTokens ?? min(configuration.defaultMaximumTokens, context - prompt.count)
            guard maximum >= 1, prompt.count + maximum <= context else {
                throw ChatGenerationError(.invalidRequest, "the messages take \(prompt.count) tokens and the answer may take \(maximum); "
                                          + "model '\(waiting.version.name)' reads at most \(context)", parameter: request.maximumTokens == nil ? "messages" : "max_tokens")
            }
            waiting.events(.success(.started(promptTokens: prompt.count)))
            var options = SamplingOptions()
            (options.temperature, options.topP, options.maximumNewTokens, options.stopTokens) = (request.temperature, request.topP, maximum, policy.stopTokens)
            options.seed = request.seed ?? UInt64.random(in: 0...UInt64.max)
            var answers = (0..<request.choices).map { _ in GrowingAnswer(stop: request.stop) }
            let sequences = try policy.model.sample(prompts: Array(repeating: prompt, count: request.choices), options: options) { choice, token, logProbability in
                if isCancelled() { return false }
                let grown = answers[choice].add(token, logProbability: logProbability, policy: policy, keepsLogProbabilities: request.logProbabilities)
                if !grown.text.isEmpty || !grown.tokens.isEmpty {
                    waiting.events(.success(.text(choice: choice, text: grown.text, tokens: grown.tokens)))
                }
                return !answers[choice].stoppedByText
            }
            guard !isCancelled() else { return }
            var choices: [ChatChoice] = []
            for (index, sequence) in sequences.enumerated() {
                let rest = answers[index].finish(policy: policy)
                if !rest.isEmpty { waiting.events(.success(.text(choice: index, text: rest, tokens: []))) }
                choices.append(ChatChoice(text: answers[index].emitted, finishReason: sequence.stopped || answers[index].stoppedByText ? "stop" : "length",
                                          tokens: answers[index].allTokens, tokenCount: sequence.tokens.count))
            }
            waiting.events(.success(.finished(promptTokens: prompt.count, choices: choices)))
        } catch let error as ChatGenerationError {
            waiting.events(.failure(error))
        } catch {
            waiting.events(.failure(ChatGenerationError(.failed, "generation failed: \(error)")))
        }
    }

    /// The loaded model of `version`, loading it (and forgetting the least recently used) if
    /// it is not; a version whose weights changed is loaded again.
    private func model(for version: ModelVersion) throws -> PretrainedModel {
        let key = version.checkpointPath + "#" + version.checkpointSha256
        if let index = loaded.firstIndex(where: { $0.key == key }) {
            let entry = loaded.remove(at: index)
            loaded.append(entry)
            return entry.model
        }
        let model: PretrainedModel
        do { model = try PretrainedModel.load(version.checkpointPath) } catch {
            throw ChatGenerationError(.failed, "model '\(version.name)' could not be loaded from \(version.checkpointPath): \(error)")
        }
        loaded.append((key, model))
        if loaded.count > max(1, configuration.loadedModels) { loaded.removeFirst() }
        return model
    }
}

/// One answer as its tokens arrive: the text given out so far (never one a later token could
/// take back: an incomplete UTF-8 character or the start of a stop text is held until it is
/// whole), the cut at a stop text, and the tokens' log-probabilities not yet given out.
struct GrowingAnswer {
    let stop: [String]
    private(set) var tokens: [Int32] = []
    private(set) var emitted = ""
    private(set) var stoppedByText = false
    private(set) var allTokens: [TokenLogProbability] = []
    private var pending: [TokenLogProbability] = []

    init(stop: [String]) { self.stop = stop.filter { !$0.isEmpty } }

    /// Takes the next sampled token; returns the text and log-probabilities that can be given out now.
    mutating func add(_ token: Int32, logProbability: Float, policy: PretrainedModel, keepsLogProbabilities: Bool) -> (text: String, tokens: [TokenLogProbability]) {
        guard !stoppedByText else { return ("", []) }
        let isEnd = policy.stopTokens.contains(token)
        if keepsLogProbabilities {
            let bytes = policy.tokenizer.decodeBytes([token])
            let entry = TokenLogProbability(token: String(decoding: bytes, as: UTF8.self), logProbability: logProbability, bytes: bytes)
            pending.append(entry)
            allTokens.append(entry)
        }
        if !isEnd { tokens.append(token) }
        let text = advance(policy: policy, final: isEnd)
        // Log-probabilities go out with the text their tokens made (or with the end).
        guard !text.isEmpty || isEnd else { return ("", []) }
        defer { pending = [] }
        return (text, pending)
    }

    /// What is left to give out once sampling has ended.
    mutating func finish(policy: PretrainedModel) -> String { stoppedByText ? "" : advance(policy: policy, final: true) }

    private mutating func advance(policy: PretrainedModel, final: Bool) -> String {
        var visible = Array(policy.tokenizer.decode(tokens).unicodeScalars)
        let text = String(String.UnicodeScalarView(visible))
        if let cut = stop.compactMap({ text.range(of: $0)?.lowerBound }).min() {
            visible = Array(text[..<cut].unicodeScalars)
            stoppedByText = true
        } else if !final {
            // A replacement character at the end is a UTF-8 character whose last bytes are in
            // the next token; the last characters may begin a stop text.
            while visible.last == "\u{FFFD}" { visible.removeLast() }
            let hold = max(0, (stop.map { $0.unicodeScalars.count }.max() ?? 0) - 1)
            visible.removeLast(min(hold, visible.count))
        }
        let already = emitted.unicodeScalars.count
        guard visible.count > already else { return "" }
        let new = String(String.UnicodeScalarView(visible[already...]))
        emitted += new
        return new
    }
}
