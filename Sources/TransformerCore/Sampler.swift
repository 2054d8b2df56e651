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
        guard temperature >= 0, temperature.isFinite else { throw CheckpointError("the temperature must be zero or positive") }
        guard topK >= 0 else { throw CheckpointError("top-k must be zero (off) or positive") }
        guard topP > 0, topP <= 1 else { throw CheckpointError("top-p must be in (0, 1]") }
        guard maximumNewTokens >= 0 else { throw CheckpointError("the maximum number of new tokens must not be negative") }
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

/// The decoding loop every block variant shares: a prefill pass over the prompts fills the
/// key/value cache and gives each prompt's last logits; then each step picks every live
/// sequence's next token and runs one position of each through the model.
enum Decoding {
    /// Checks the prompts fit the context with the new tokens.
    static func validate(_ prompts: [[Int32]], options: SamplingOptions, contextLength: Int) throws {
        try options.validate()
        for (index, prompt) in prompts.enumerated() {
            guard !prompt.isEmpty else { throw CheckpointError("prompt \(index) is empty") }
            guard prompt.count + options.maximumNewTokens <= contextLength else {
                throw CheckpointError("prompt \(index) has \(prompt.count) tokens; with \(options.maximumNewTokens) new ones it exceeds the context length \(contextLength)")
            }
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
    static func sample(prompts: [[Int32]], options: SamplingOptions, vocabularySize V: Int, lastLogits: [Float],
                       step: (_ sequences: [Int], _ tokens: [Int32], _ positions: [Int]) -> UnsafePointer<Float>) -> [SampledSequence] {
        let S = prompts.count
        var lastLogits = lastLogits
        var random = SeededRandom(seed: options.seed)
        var results = [SampledSequence](repeating: SampledSequence(), count: S)
        var positions = prompts.map(\.count)
        var active = Array(0..<S)
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
                nextTokens.append(token)
            }
            let continuing = zip(active, nextTokens).filter { !results[$0.0].stopped && results[$0.0].tokens.count < options.maximumNewTokens }
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

extension GPT2Model {
    /// Samples a continuation of each prompt, all prompts decoded together one token per step
    /// with a key/value cache. Prompts may differ in length: each sequence keeps its own position,
    /// so no padding is needed.
    public func sample(prompts: [[Int32]], options: SamplingOptions) throws -> [SampledSequence] {
        try Decoding.validate(prompts, options: options, contextLength: configuration.contextLength)
        guard !prompts.isEmpty else { return [] }
        let (V, C, L) = (configuration.vocabularySize, configuration.width, configuration.layerCount)
        let S = prompts.count
        let cache = KeyValueCache(layerCount: L, sequenceCount: S, capacity: (prompts.map(\.count).max() ?? 0) + options.maximumNewTokens, width: C)
        let lastLogits = try Decoding.prefill(prompts, model: self, layerCount: L) { layer, sequence, position, row in
            let qkv = activations!.qkv + row * 3 * C
            cache.key(layer: layer, sequence: sequence, position: position).update(from: qkv + C, count: C)
            cache.value(layer: layer, sequence: sequence, position: position).update(from: qkv + 2 * C, count: C)
        }
        let step = IncrementalStep(configuration: configuration, rows: S)
        return Decoding.sample(prompts: prompts, options: options, vocabularySize: V, lastLogits: lastLogits) { sequences, tokens, positions in
            step.run(model: self, cache: cache, sequences: sequences, tokens: tokens, positions: positions)
            return UnsafePointer(step.logits)
        }
    }
}


/// One decoding step for several sequences at once: each row is one sequence's newest token at
/// its own position. Its buffers are sized once for the largest number of rows.
final class IncrementalStep {
    private let configuration: GPT2Configuration
    private let buffers: FloatBuffer
    let residual, normalized, qkv, attention, projection, feedForward, gelu, logits, scores: FloatPointer
    private let mean, rstd: FloatPointer

    init(configuration: GPT2Configuration, rows R: Int) {
        self.configuration = configuration
        let (C, V, T) = (configuration.width, configuration.vocabularySize, configuration.contextLength)
        let sizes = [R * C, R * C, R * 3 * C, R * C, R * C, R * 4 * C, R * 4 * C, R * V, T, R, R]
        let pointers: [FloatPointer]
        (buffers, pointers) = FloatBuffer.carved(into: sizes)
        (residual, normalized, qkv, attention, projection, feedForward, gelu, logits, scores) =
            (pointers[0], pointers[1], pointers[2], pointers[3], pointers[4], pointers[5], pointers[6], pointers[7], pointers[8])
        (mean, rstd) = (pointers[9], pointers[10])
    }

    func run(model: GPT2Model, cache: KeyValueCache, sequences: [Int], tokens: [Int32], positions: [Int]) {
        let (C, V, NH, L) = (configuration.width, configuration.vocabularySize, configuration.headCount, configuration.layerCount)
        let hs = C / NH
        let R = sequences.count
        let p = model.parameters.pointer, layout = model.layout
        let epsilon = configuration.layerNormEpsilon
        for (row, token) in tokens.enumerated() {
            let x = residual + row * C
            let embedding = p + layout.tokenEmbedding + Int(token) * C, position = p + layout.positionEmbedding + positions[row] * C
            for i in 0..<C { x[i] = embedding[i] + position[i] }
        }
        for l in 0..<L {
            let w = layout.blocks[l]
            Kernels.layerNormForward(normalized, mean, rstd, residual, p + w.layerNorm1Weight, p + w.layerNorm1Bias, rows: R, C: C, epsilon: epsilon)
            Kernels.matmulForward(qkv, normalized, p + w.attentionWeight, p + w.attentionBias, rows: R, C: C, OC: 3 * C)
            for (row, s) in sequences.enumerated() {
                let position = positions[row]
                let q = qkv + row * 3 * C
                cache.key(layer: l, sequence: s, position: position).update(from: q + C, count: C)
                cache.value(layer: l, sequence: s, position: position).update(from: q + 2 * C, count: C)
                cache.attend(attention + row * C, query: q, layer: l, sequence: s, position: position, headCount: NH, keyValueHeadCount: NH,
                             headSize: hs, scores: scores)
            }
            Kernels.matmulForward(projection, attention, p + w.attentionProjectionWeight, p + w.attentionProjectionBias, rows: R, C: C, OC: C)
            for i in 0..<(R * C) { residual[i] += projection[i] }
            Kernels.layerNormForward(normalized, mean, rstd, residual, p + w.layerNorm2Weight, p + w.layerNorm2Bias, rows: R, C: C, epsilon: epsilon)
            Kernels.matmulForward(feedForward, normalized, p + w.feedForwardWeight, p + w.feedForwardBias, rows: R, C: C, OC: 4 * C)
            Kernels.geluForward(gelu, feedForward, count: R * 4 * C)
            Kernels.matmulForward(projection, gelu, p + w.feedForwardProjectionWeight, p + w.feedForwardProjectionBias, rows: R, C: 4 * C, OC: C)
            for i in 0..<(R * C) { residual[i] += projection[i] }
        }
        Kernels.layerNormForward(normalized, mean, rstd, residual, p + layout.finalLayerNormWeight, p + layout.finalLayerNormBias, rows: R, C: C, epsilon: epsilon)
        Kernels.tiedHeadForward(logits, normalized, p + layout.tokenEmbedding, rows: R, C: C, V: V)
    }
}
