import CBLAS
import Foundation

/// How to pick each next token.
public struct SamplingOptions: Sendable, Equatable, Codable {
    /// 0 picks the most likely token (greedy); otherwise logits are divided by it.
    public var temperature: Float = 1
    /// Keep only the k most likely tokens; 0 keeps all.
    public var topK = 0
    /// Keep the smallest set of most likely tokens whose probability reaches p; 1 keeps all.
    public var topP: Float = 1
    public var maximumNewTokens = 64
    /// Sequences end after producing any of these (the token is kept in the output).
    public var stopTokens: Set<Int32> = []
    public var seed: UInt64 = 0

    public init() {}

    func validate() throws {
        guard temperature >= 0, temperature.isFinite else { throw SamplingError.invalidOption(name: "the temperature", rule: "must be zero or positive") }
        guard topK >= 0 else { throw SamplingError.invalidOption(name: "top-k", rule: "must be zero (off) or positive") }
        guard topP > 0, topP <= 1 else { throw SamplingError.invalidOption(name: "top-p", rule: "must be in (0, 1]") }
        guard maximumNewTokens >= 0 else { throw SamplingError.invalidOption(name: "the maximum number of new tokens", rule: "must not be negative") }
    }
}

/// One sampled continuation.
public struct SampledSequence: Sendable, Equatable {
    public var tokens: [Int32] = []
    /// log pi(token) of each sampled token under the temperature-scaled distribution before
    /// top-k and top-p (what PPO's ratio and KL penalty need; greedy decoding uses temperature 1).
    public var logProbabilities: [Float] = []
    /// Whether the sequence ended at a stop token rather than at the length limit.
    public var stopped = false
}

/// The keys and values of every position seen so far, per layer and sequence, so each new token
/// costs one position's work instead of the whole prefix's.
final class KeyValueCache {
    let layerCount: Int, sequenceCount: Int, capacity: Int, width: Int
    /// [L, S, capacity, C] each.
    let keys: FloatBuffer
    let values: FloatBuffer

    init(layerCount: Int, sequenceCount: Int, capacity: Int, width: Int) {
        (self.layerCount, self.sequenceCount, self.capacity, self.width) = (layerCount, sequenceCount, capacity, width)
        keys = FloatBuffer(count: layerCount * sequenceCount * capacity * width)
        values = FloatBuffer(count: layerCount * sequenceCount * capacity * width)
    }

    func key(layer: Int, sequence: Int, position: Int) -> FloatPointer {
        keys.pointer + ((layer * sequenceCount + sequence) * capacity + position) * width
    }

    func value(layer: Int, sequence: Int, position: Int) -> FloatPointer {
        values.pointer + ((layer * sequenceCount + sequence) * capacity + position) * width
    }

    /// One new position's attention over the cached positions 0...position of a sequence:
    /// out[headCount * hs] from query[headCount * hs], query head h reading key/value head
    /// h / (headCount / keyValueHeadCount). `scores` holds position + 1 floats.
    func attend(_ out: FloatPointer, query: UnsafePointer<Float>, layer: Int, sequence: Int, position: Int,
                headCount: Int, keyValueHeadCount: Int, headSize hs: Int, scores: FloatPointer) {
        let scale = 1 / Float(hs).squareRoot()
        let group = headCount / keyValueHeadCount
        for h in 0..<headCount {
            let q = query + h * hs, kvOffset = (h / group) * hs
            var maximum = -Float.infinity
            for t in 0...position {
                let key = self.key(layer: layer, sequence: sequence, position: t) + kvOffset
                var dot: Float = 0
                for i in 0..<hs { dot += q[i] * key[i] }
                scores[t] = dot * scale
                maximum = max(maximum, scores[t])
            }
            var sum: Float = 0
            for t in 0...position {
                scores[t] = expf(scores[t] - maximum)
                sum += scores[t]
            }
            let headOut = out + h * hs
            headOut.update(repeating: 0, count: hs)
            for t in 0...position {
                let weight = scores[t] / sum
                let value = self.value(layer: layer, sequence: sequence, position: t) + kvOffset
                for i in 0..<hs { headOut[i] += weight * value[i] }
            }
        }
    }
}

/// What a block variant gives the decoding loop it shares with the others: where its prefill
/// pass keeps each position's keys and values, and one decoding step for several sequences.
protocol IncrementalDecoding: LanguageModel {
    associatedtype Step: DecodingStep where Step.Model == Self
    var layerCount: Int { get }
    /// Floats per position of a layer's cached keys (and of its values).
    var keyValueWidth: Int { get }
    /// Copies the keys and values of row `row` of the last forward pass's [L, S, T] activations
    /// into the cache at (layer, sequence, position).
    func cachePrefill(_ cache: KeyValueCache, layer: Int, sequence: Int, position: Int, row: Int)
    /// Buffers for steps of up to `rows` sequences.
    func makeDecodingStep(rows: Int) -> Step
}

/// One decoding step of a variant for several sequences at once: each row is one sequence's
/// newest token at its own position.
protocol DecodingStep {
    associatedtype Model
    /// The logits of the last `run`, [rows, V].
    var logits: FloatPointer { get }
    func run(model: Model, cache: KeyValueCache, sequences: [Int], tokens: [Int32], positions: [Int])
}

/// The decoding loop every block variant shares: a prefill pass over the prompts fills the
/// key/value cache and gives each prompt's last logits; then each step picks every live
/// sequence's next token and runs one position of each through the model.
enum Decoding {
    /// Checks the prompts fit the context with the new tokens.
    static func validate(_ prompts: [[Int32]], options: SamplingOptions, contextLength: Int) throws {
        try options.validate()
        for (index, prompt) in prompts.enumerated() {
            guard !prompt.isEmpty else { throw SamplingError.emptyPrompt(index: index) }
            guard prompt.count + options.maximumNewTokens <= contextLength else {
                throw SamplingError.promptTooLong(index: index, tokens: prompt.count, newTokens: options.maximumNewTokens, contextLength: contextLength)
            }
        }
    }

    /// Samples a continuation of each prompt with a key/value cache, all prompts decoded together
    /// one token per step: the one sampling function of every variant. Prompts may differ in
    /// length: each sequence keeps its own position, so no padding is needed.
    static func sample<Model: IncrementalDecoding>(_ model: Model, prompts: [[Int32]], options: SamplingOptions, observer: TokenObserver? = nil) throws -> [SampledSequence] {
        try validate(prompts, options: options, contextLength: model.contextLength)
        guard !prompts.isEmpty else { return [] }
        let cache = KeyValueCache(layerCount: model.layerCount, sequenceCount: prompts.count,
                                  capacity: (prompts.map(\.count).max() ?? 0) + options.maximumNewTokens, width: model.keyValueWidth)
        // Identical prompts (several answers to one prompt: best-of-n, RLOO's k samples, a live
        // conversation's two) are prefilled once, and each copy's cache is filled from that pass:
        // the prefill of a long conversation is most of the wait for its first token.
        var distinct: [[Int32]] = [], copies: [[Int]] = [], distinctIndex: [[Int32]: Int] = [:]
        for (sequence, prompt) in prompts.enumerated() {
            if let known = distinctIndex[prompt] { copies[known].append(sequence); continue }
            distinctIndex[prompt] = distinct.count
            distinct.append(prompt)
            copies.append([sequence])
        }
        let distinctLogits = try prefill(distinct, model: model, layerCount: model.layerCount) { layer, prompt, position, row in
            for sequence in copies[prompt] { model.cachePrefill(cache, layer: layer, sequence: sequence, position: position, row: row) }
        }
        let V = model.vocabularySize
        var lastLogits = [Float](repeating: 0, count: prompts.count * V)
        for (prompt, sequences) in copies.enumerated() {
            for sequence in sequences { lastLogits[(sequence * V)..<((sequence + 1) * V)] = distinctLogits[(prompt * V)..<((prompt + 1) * V)] }
        }
        let step = model.makeDecodingStep(rows: prompts.count)
        return decode(prompts: prompts, options: options, vocabularySize: model.vocabularySize, lastLogits: lastLogits, observer: observer) { sequences, tokens, positions in
            step.run(model: model, cache: cache, sequences: sequences, tokens: tokens, positions: positions)
            return UnsafePointer(step.logits)
        }
    }

    /// The prefill: one forward pass over all prompts, right-padded to the longest. Causal
    /// attention never looks ahead, so padding after a prompt changes nothing before it; each
    /// prompt's keys and values are kept up to its own length through `store(layer, sequence,
    /// position, row)`, where `row` indexes the pass's [L, S, longest] activations. One pass
    /// reads the weights once for all prompts, which is what decoding is bound by. Returns each
    /// prompt's last logits, [S,V].
    static func prefill(_ prompts: [[Int32]], model: some LanguageModel, layerCount L: Int,
                        store: (_ layer: Int, _ sequence: Int, _ position: Int, _ row: Int) -> Void) throws -> [Float] {
        let (S, V) = (prompts.count, model.vocabularySize)
        let longest = prompts.map(\.count).max()!
        try model.forward(tokens: prompts.flatMap { $0 + [Int32](repeating: 0, count: longest - $0.count) }, targets: nil, attentionMask: nil,
                          positionIDs: nil, batchSize: S, sequenceLength: longest, forBackward: false)
        var lastLogits = [Float](repeating: 0, count: S * V)
        for (s, prompt) in prompts.enumerated() {
            for l in 0..<L {
                for t in 0..<prompt.count { store(l, s, t, (l * S + s) * longest + t) }
            }
            lastLogits.withUnsafeMutableBufferPointer { ($0.baseAddress! + s * V).update(from: model.logits.baseAddress! + (s * longest + prompt.count - 1) * V, count: V) }
        }
        return lastLogits
    }

    /// `lastLogits` holds each prompt's last logits ([S,V]) after the prefill; `step` runs the
    /// given sequences' new tokens at their positions and returns their logits ([rows,V]).
    static func decode(prompts: [[Int32]], options: SamplingOptions, vocabularySize V: Int, lastLogits: [Float], observer: TokenObserver? = nil,
                       step: (_ sequences: [Int], _ tokens: [Int32], _ positions: [Int]) -> UnsafePointer<Float>) -> [SampledSequence] {
        let S = prompts.count
        var lastLogits = lastLogits
        var random = SeededRandom(seed: options.seed)
        var results = [SampledSequence](repeating: SampledSequence(), count: S)
        var positions = prompts.map(\.count)
        var active = Array(0..<S)
        // Sequences the observer ended (they did not stop at a stop token).
        var ended = Set<Int>()
        let scratch = FloatBuffer(count: V)
        for _ in 0..<options.maximumNewTokens {
            guard !active.isEmpty else { break }
            var nextTokens: [Int32] = []
            for s in active {
                let (token, logProbability) = lastLogits.withUnsafeBufferPointer {
                    pick(from: $0.baseAddress! + s * V, vocabularySize: V, options: options, random: &random, scratch: scratch.pointer)
                }
                results[s].tokens.append(token)
                results[s].logProbabilities.append(logProbability)
                if options.stopTokens.contains(token) { results[s].stopped = true }
                if let observer, !observer(s, token, logProbability) { ended.insert(s) }
                nextTokens.append(token)
            }
            let continuing = zip(active, nextTokens).filter {
                !results[$0.0].stopped && !ended.contains($0.0) && results[$0.0].tokens.count < options.maximumNewTokens
            }
            if continuing.isEmpty { break }
            active = continuing.map(\.0)
            let logits = step(active, continuing.map(\.1), active.map { positions[$0] })
            for (row, s) in active.enumerated() {
                positions[s] += 1
                lastLogits.withUnsafeMutableBufferPointer { ($0.baseAddress! + s * V).update(from: logits + row * V, count: V) }
            }
        }
        return results
    }
    /// Picks one token from `logits` ([V]) by the options; returns it with its log-probability.
    /// The exponentials are computed once into `scratch` ([V]) and reused for the draw.
    static func pick(from logits: UnsafePointer<Float>, vocabularySize V: Int, options: SamplingOptions,
                     random: inout SeededRandom, scratch: FloatPointer) -> (Int32, Float) {
        let temperature = options.temperature == 0 ? 1 : options.temperature
        var maximum = -Float.infinity
        for i in 0..<V where logits[i] > maximum { maximum = logits[i] }
        var sum: Float = 0
        let inverseTemperature = 1 / temperature
        for i in 0..<V {
            let e = expf((logits[i] - maximum) * inverseTemperature)
            scratch[i] = e
            sum += e
        }
        let logSum = logf(sum)
        func logProbability(_ index: Int) -> Float { logf(scratch[index]) - logSum }

        if options.temperature == 0 {
            var best = 0
            for i in 1..<V where logits[i] > logits[best] { best = i }
            return (Int32(best), logProbability(best))
        }
        if options.topK == 0 && options.topP >= 1 {
            var threshold = random.nextUniform() * sum
            for i in 0..<V {
                threshold -= scratch[i]
                if threshold <= 0 { return (Int32(i), logProbability(i)) }
            }
            var last = V - 1
            while last > 0 && scratch[last] == 0 { last -= 1 }
            return (Int32(last), logProbability(last))
        }
        // Candidates by descending probability, cut by top-k and top-p, then drawn.
        var order = Array(0..<V)
        order.sort { scratch[$0] > scratch[$1] }
        if options.topK > 0 { order = Array(order.prefix(options.topK)) }
        if options.topP < 1 {
            var cumulative: Float = 0
            var kept = 0
            for index in order {
                cumulative += scratch[index] / sum
                kept += 1
                if cumulative >= options.topP { break }
            }
            order = Array(order.prefix(kept))
        }
        var mass: Float = 0
        for index in order { mass += scratch[index] }
        var threshold = random.nextUniform() * mass
        for index in order {
            threshold -= scratch[index]
            if threshold <= 0 { return (Int32(index), logProbability(index)) }
        }
        let last = order.last!
        return (Int32(last), logProbability(last))
    }
}
