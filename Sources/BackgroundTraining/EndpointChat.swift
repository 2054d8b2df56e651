import Cryptography
import Foundation
import Labeling

/// A registered endpoint answering a chat request as Tally's own generator would, for a side of
/// a live conversation: each answer one streamed chat completion (its own seed, so two answers
/// to the same message differ), asked concurrently, its text given out as it arrives.
public struct EndpointChat: Sendable {
    public let endpoint: ModelEndpoint
    private let client: ChatCompletionsClient

    public init(endpoint: ModelEndpoint, apiKey: String?) throws {
        self.endpoint = endpoint
        client = ChatCompletionsClient(endpoint: endpoint, apiKey: apiKey, tls: try TLSClientContext())
    }

    /// `request.choices` answers, in order, or why there are none (naming the endpoint);
    /// `onText` hears each piece of each answer (by its choice) as it arrives, from the
    /// threads that read them.
    public func answers(_ request: ChatRequest, onText: @escaping @Sendable (_ choice: Int, _ text: String) -> Void) -> Result<[String], ChatGenerationError> {
        var options = CandidateSampling()
        options.temperature = request.temperature
        options.topP = request.topP
        options.maximumNewTokens = request.maximumTokens ?? options.maximumNewTokens
        let sampling = options
        let seed = request.seed ?? UInt64.random(in: 0...UInt64(Int64.max))
        let choices = max(1, request.choices)
        let results = AnswerResults(count: choices)
        DispatchQueue.concurrentPerform(iterations: choices) { choice in
            results.set(choice, Result {
                try client.completeStreaming(request.messages, sampling: sampling, seed: seed &+ UInt64(choice)) { onText(choice, $0) }.text
            })
        }
        return results.all.mapError { ChatGenerationError(.failed, "\($0)") }
    }
}

/// The answers of one request, written by the threads that read them.
private final class AnswerResults: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<String, any Error>?]

    init(count: Int) { results = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<String, any Error>) { lock.withLock { results[index] = result } }

    var all: Result<[String], any Error> {
        lock.withLock { Result { try results.map { try $0!.get() } } }
    }
}
