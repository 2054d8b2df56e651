import Cryptography
import Foundation
import Labeling

/// A registered endpoint answering a chat request as Tally's own generator would, for a side of
/// a live conversation: each answer one chat completion (its own seed, so two answers to the
/// same message differ), asked concurrently, the text whole when it comes (not streamed).
public struct EndpointChat: Sendable {
    public let endpoint: ModelEndpoint
    private let client: ChatCompletionsClient

    public init(endpoint: ModelEndpoint, apiKey: String?) throws {
        self.endpoint = endpoint
        client = ChatCompletionsClient(endpoint: endpoint, apiKey: apiKey, tls: try TLSClientContext())
    }

    /// `request.choices` answers, in order, or why there are none (naming the endpoint).
    public func answers(_ request: ChatRequest) -> Result<[String], ChatGenerationError> {
        var sampling = CandidateSampling()
        sampling.temperature = request.temperature
        sampling.topP = request.topP
        sampling.maximumNewTokens = request.maximumTokens ?? sampling.maximumNewTokens
        let rows = Array(repeating: request.messages, count: max(1, request.choices))
        do {
            return .success(try client.complete(rows, sampling: sampling, seed: request.seed ?? UInt64.random(in: 0...UInt64(Int64.max))).map {
                $0.text.trimmingCharacters(in: .whitespacesAndNewlines)
            })
        } catch {
            return .failure(ChatGenerationError(.failed, "\(error)"))
        }
    }
}
