import Foundation

extension LlamaModel {
    /// Samples a continuation of each prompt with a key/value cache, as `GPT2Model.sample` does.
    /// The cache holds each position's keys after rotation, so a step rotates only its new
    /// query and key.
    public func sample(prompts: [[Int32]], options: SamplingOptions) throws -> [SampledSequence] {
        try Decoding.validate(prompts, options: options, contextLength: configuration.contextLength)
        guard !prompts.isEmpty else { return [] }
        let (V, L, KV) = (configuration.vocabularySize, configuration.layerCount, configuration.keyValueWidth)
        let S = prompts.count
        let cache = KeyValueCache(layerCount: L, sequenceCount: S, capacity: (prompts.map(\.count).max() ?? 0) + options.maximumNewTokens, width: KV)
        let lastLogits = try Decoding.prefill(prompts, model: self, layerCount: L) { layer, sequence, position, row in
            cache.key(layer: layer, sequence: sequence, position: position).update(from: activations!.keys + row * KV, count: KV)
            cache.value(layer: layer, sequence: sequence, position: position).update(from: activations!.values + row * KV, count: KV)
        }
        let step = LlamaIncrementalStep(configuration: configuration, rows: S)
        return Decoding.sample(prompts: prompts, options: options, vocabularySize: V, lastLogits: lastLogits) { sequences, tokens, positions in
            step.run(model: self, cache: cache, sequences: sequences, tokens: tokens, positions: positions)
            return UnsafePointer(step.logits)
        }
    }
}

/// One decoding step of the Llama variant for several sequences at once: each row is one
/// sequence's newest token at its own position.
final class LlamaIncrementalStep {
    private let configuration: LlamaConfiguration
    private let buffers: FloatBuffer
    let residual, normalized, queries, keys, values, attention, projection, gate, up, gated, logits, scores, rstd: FloatPointer

    init(configuration: LlamaConfiguration, rows R: Int) {
        self.configuration = configuration
        let (C, V, T, I) = (configuration.width, configuration.vocabularySize, configuration.contextLength, configuration.intermediateSize)
        let (Q, KV) = (configuration.queryWidth, configuration.keyValueWidth)
        let sizes = [R * C, R * C, R * Q, R * KV, R * KV, R * Q, R * C, R * I, R * I, R * I, R * V, T, R]
        let p: [FloatPointer]
        (buffers, p) = FloatBuffer.carved(into: sizes)
        (residual, normalized, queries, keys, values, attention, projection) = (p[0], p[1], p[2], p[3], p[4], p[5], p[6])
        (gate, up, gated, logits, scores, rstd) = (p[7], p[8], p[9], p[10], p[11], p[12])
    }

    func run(model: LlamaModel, cache: KeyValueCache, sequences: [Int], tokens: [Int32], positions: [Int]) {
        let (C, V, L, I) = (configuration.width, configuration.vocabularySize, configuration.layerCount, configuration.intermediateSize)
        let (NH, KVH, hs, Q, KV) = (configuration.headCount, configuration.keyValueHeadCount, configuration.headSize, configuration.queryWidth, configuration.keyValueWidth)
        let R = sequences.count
        let p = model.parameters.pointer, layout = model.layout
        let epsilon = configuration.rmsNormEpsilon
        tokens.withUnsafeBufferPointer { Kernels.embeddingForward(residual, $0.baseAddress!, p + layout.tokenEmbedding, rows: R, C: C) }
        let rowPositions = positions.map(Int32.init)
        for l in 0..<L {
            let w = layout.blocks[l]
            Kernels.rmsNormForward(normalized, rstd, residual, p + w.attentionNormWeight, rows: R, C: C, epsilon: epsilon)
            Kernels.linearForward(queries, normalized, p + w.queryWeight, rows: R, C: C, OC: Q)
            Kernels.linearForward(keys, normalized, p + w.keyWeight, rows: R, C: C, OC: KV)
            Kernels.linearForward(values, normalized, p + w.valueWeight, rows: R, C: C, OC: KV)
            rowPositions.withUnsafeBufferPointer { positions in
                model.rotaryCosines.withUnsafeBufferPointer { cosines in
                    model.rotarySines.withUnsafeBufferPointer { sines in
                        for (x, heads) in [(queries, NH), (keys, KVH)] {
                            Kernels.rotaryForward(x, positions.baseAddress!, cosines: cosines.baseAddress!, sines: sines.baseAddress!, rows: R,
                                                  heads: heads, headSize: hs, layout: configuration.rotaryLayout)
                        }
                    }
                }
            }
            for (row, s) in sequences.enumerated() {
                let position = positions[row]
                cache.key(layer: l, sequence: s, position: position).update(from: keys + row * KV, count: KV)
                cache.value(layer: l, sequence: s, position: position).update(from: values + row * KV, count: KV)
                cache.attend(attention + row * Q, query: queries + row * Q, layer: l, sequence: s, position: position,
                             headCount: NH, keyValueHeadCount: KVH, headSize: hs, scores: scores)
            }
            Kernels.linearForward(projection, attention, p + w.outputWeight, rows: R, C: Q, OC: C)
            for i in 0..<(R * C) { residual[i] += projection[i] }
            Kernels.rmsNormForward(normalized, rstd, residual, p + w.feedForwardNormWeight, rows: R, C: C, epsilon: epsilon)
            Kernels.linearForward(gate, normalized, p + w.gateWeight, rows: R, C: C, OC: I)
            Kernels.linearForward(up, normalized, p + w.upWeight, rows: R, C: C, OC: I)
            Kernels.swigluForward(gated, gate, up, count: R * I)
            Kernels.linearForward(projection, gated, p + w.downWeight, rows: R, C: I, OC: C)
            for i in 0..<(R * C) { residual[i] += projection[i] }
        }
        Kernels.rmsNormForward(normalized, rstd, residual, p + layout.finalNormWeight, rows: R, C: C, epsilon: epsilon)
        Kernels.linearForward(logits, normalized, p + layout.outputHead, rows: R, C: C, OC: V)
    }
}
