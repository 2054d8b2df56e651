import Foundation
import Labeling
import Training
import TransformerCore

/// A remote reward request that cannot be scored, with what the caller should be told.
public struct RemoteRewardError: Error, CustomStringConvertible, Sendable {
    public let isClientError: Bool
    public let description: String
}

/// Scores OpenRLHF's remote reward requests with a reward-model version: each query (a whole
/// conversation as the policy's tokenizer decoded it, pads and all) is stripped of pad tokens,
/// read back into messages with the reward model's own chat template (a query in another
/// template is refused, never scored as if it fit), and scored at the answer's last token.
/// Requests that arrive while one is scored wait, and are then scored together in one batch
/// (OpenRLHF sends one request per rollout batch and retries rather than waiting, so requests
/// are queued, never refused). One request at a time on a thread of its own, at normal priority.
public final class RemoteRewardScorer: @unchecked Sendable {
    private struct Waiting {
        let version: ModelVersion
        let queries: [String]
        let done: @Sendable (Result<[Float], RemoteRewardError>) -> Void
    }

    private let condition = NSCondition()
    private var queue: [Waiting] = []
    private var stopping = false
    private var thread: Thread?
    /// The reward model last used, touched only by the scoring thread.
    private var loaded: (key: String, model: RewardModel)?
    private let threads: Int

    public init(threads: Int = ComputeThreads.maximumCount) { self.threads = threads }

    /// Requests waiting to be scored.
    public var waitingCount: Int { condition.withLock { queue.count } }

    /// Queues the queries of one request; `done` gets one reward per query, in order, or the
    /// error that names the query at fault.
    public func score(_ queries: [String], with version: ModelVersion, done: @escaping @Sendable (Result<[Float], RemoteRewardError>) -> Void) {
        let refused = condition.withLock { () -> Bool in
            guard !stopping else { return true }
            queue.append(Waiting(version: version, queries: queries, done: done))
            if thread == nil { startThread() }
            condition.signal()
            return false
        }
        if refused { done(.failure(RemoteRewardError(isClientError: false, description: "the server is shutting down"))) }
    }

    public func stop() {
        let abandoned = condition.withLock {
            stopping = true
            condition.broadcast()
            defer { queue = [] }
            return queue
        }
        for waiting in abandoned { waiting.done(.failure(RemoteRewardError(isClientError: false, description: "the server is shutting down"))) }
    }

    private func startThread() {
        let thread = Thread { [self] in
            let compute = ComputeThreads(count: threads, priority: .normal)
            while let batch = takeBatch() { compute.run { scoreTogether(batch) } }
        }
        thread.name = "tally.remote-reward"
        thread.stackSize = 16 << 20
        self.thread = thread
        thread.start()
    }

    /// Every waiting request for the same reward model as the oldest one.
    private func takeBatch() -> [Waiting]? {
        condition.withLock {
            while queue.isEmpty && !stopping { condition.wait() }
            guard !stopping, let first = queue.first else { return nil }
            let batch = queue.filter { $0.version.id == first.version.id }
            queue.removeAll { $0.version.id == first.version.id }
            return batch
        }
    }

    private func scoreTogether(_ batch: [Waiting]) {
        let model: RewardModel
        do { model = try rewardModel(batch[0].version) } catch {
            for waiting in batch { waiting.done(.failure(RemoteRewardError(isClientError: false, description: "reward model '\(batch[0].version.name)' could not be loaded: \(error)"))) }
            return
        }
        var conversations: [(prompt: [ChatTemplate.Message], answer: String)] = [], owners: [(request: Int, count: Int)] = []
        for (index, waiting) in batch.enumerated() {
            do {
                let read = try waiting.queries.enumerated().map { try Self.conversation(of: $1, index: $0, model: model, name: waiting.version.name) }
                conversations += read
                owners.append((index, read.count))
            } catch let error as RemoteRewardError {
                waiting.done(.failure(error))
            } catch {
                waiting.done(.failure(RemoteRewardError(isClientError: true, description: "\(error)")))
            }
        }
        do {
            let rewards = try model.rewards(of: conversations)
            var offset = 0
            for (request, count) in owners {
                batch[request].done(.success(Array(rewards[offset..<(offset + count)])))
                offset += count
            }
        } catch {
            for (request, _) in owners { batch[request].done(.failure(RemoteRewardError(isClientError: false, description: "scoring failed: \(error)"))) }
        }
    }

    /// A query read back into a prompt and an answer with the reward model's template.
    static func conversation(of query: String, index: Int, model: RewardModel, name: String) throws -> (prompt: [ChatTemplate.Message], answer: String) {
        guard let template = model.base.chatTemplate else {
            throw RemoteRewardError(isClientError: false, description: "reward model '\(name)' has no chat template to read queries with")
        }
        var text = Substring(query)
        let pad = String(decoding: model.base.tokenizer.decodeBytes([model.padToken]), as: UTF8.self)
        if !pad.isEmpty {
            while text.hasPrefix(pad) { text = text.dropFirst(pad.count) }
            while text.hasSuffix(pad) { text = text.dropLast(pad.count) }
        }
        guard let messages = template.parse(String(text)), messages.count >= 2, let answer = messages.last, answer.role == "assistant" else {
            throw RemoteRewardError(isClientError: true, description: "query \(index) is not a conversation ending with the assistant's answer in reward model '\(name)''s chat template "
                                    + "(\(template.format)): give the policy the reward model's tokenizer and template, so that it writes "
                                    + "\(template.render([ChatTemplate.Message(role: "user", content: "…"), ChatTemplate.Message(role: "assistant", content: "…")], addGenerationPrompt: false).debugDescription)")
        }
        return (Array(messages.dropLast()), answer.content)
    }

    private func rewardModel(_ version: ModelVersion) throws -> RewardModel {
        let key = version.checkpointPath + "#" + version.checkpointSha256
        if let loaded, loaded.key == key { return loaded.model }
        let model = try RewardModel(contentsOf: version.checkpointPath)
        loaded = (key, model)
        return model
    }
}
