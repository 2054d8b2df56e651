import Foundation

extension LlamaModel: IncrementalDecoding {
    /// Samples a continuation of each prompt with a key/value cache (`Decoding.sample`). The
    /// cache holds each position's keys after rotation, so a step rotates only its new query
    /// and key.
    public func sample(prompts: [[Int32]], options: SamplingOptions, observer: TokenObserver?) throws -> [SampledSequence] {
        try Decoding.sample(self, prompts: prompts, options: options, observer: observer)
    }

    var layerCount: Int { configuration.layerCount }
    var keyValueWidth: Int { configuration.keyValueWidth }

    func cachePrefill(_ cache: KeyValueCache, layer: Int, sequence: Int, position: Int, row: Int) {
        let KV = configuration.keyValueWidth
        cache.key(layer: layer, sequence: sequence, position: position).update(from: activations!.keys + row * KV, count: KV)
        cache.value(layer: layer, sequence: sequence, position: position).update(from: activations!.values + row * KV, count: KV)
    }

    func makeDecodingStep(rows: Int) -> LlamaIncrementalStep { LlamaIncrementalStep(configuration: configuration, rows: rows) }
}

/// One decoding step of the Llama variant for several sequences at once: each row is one
/// sequence's newest token at its own position.
final class LlamaIncrementalStep: DecodingStep {
    private let configuration: LlamaConfiguration
    private let buffers: FloatBuffer
    let residual, normalized, queries, keys, values, attention, projection, gate, up, gated, logits, scores, rstd, fused: FloatPointer

    init(configuration: LlamaConfiguration, rows R: Int) {
        self.configuration = configuration
        // `run` reads q, k, v and gate, up as one matrix each; the layout must keep them adjacent.
        if let block = LlamaParameterLayout(configuration).blocks.first {
            let (C, Q, KV, I) = (configuration.width, configuration.queryWidth, configuration.keyValueWidth, configuration.intermediateSize)
            precondition(block.keyWeight == block.queryWeight + Q * C && block.valueWeight == block.keyWeight + KV * C
                         && block.upWeight == block.gateWeight + I * C, "LlamaParameterLayout no longer keeps q, k, v and gate, up adjacent")
        }
        let (C, V, T, I) = (configuration.width, configuration.vocabularySize, configuration.contextLength, configuration.intermediateSize)
        let (Q, KV) = (configuration.queryWidth, configuration.keyValueWidth)
        let sizes = [R * C, R * C, R * Q, R * KV, R * KV, R * Q, R * C, R * I, R * I, R * I, R * V, T, R, R * max(Q + 2 * KV, 2 * I)]
        let p: [FloatPointer]
        (buffers, p) = FloatBuffer.carved(into: sizes)
        (residual, normalized, queries, keys, values, attention, projection) = (p[0], p[1], p[2], p[3], p[4], p[5], p[6])
        (gate, up, gated, logits, scores, rstd, fused) = (p[7], p[8], p[9], p[10], p[11], p[12], p[13])
    }

    /// Copies each row of `source` ([rows, sum of widths]) into the outputs, side by side.
    private func split(_ source: FloatPointer, rows: Int, into outputs: [(FloatPointer, Int)]) {
        let total = outputs.reduce(0) { $0 + $1.1 }
        for row in 0..<rows {
            var offset = 0
            for (output, width) in outputs {
                (output + row * width).update(from: source + row * total + offset, count: width)
                offset += width
            }
        }
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
            // The query, key and value weights lie one after another in the parameter buffer, as
            // do the gate and up weights (LlamaParameterLayout): one pass over each group wakes
            // the other core once instead of three or two times (about a seventh of a decoding
            // step, measured), and its rows are split apart after.
            Kernels.linearForward(fused, normalized, p + w.queryWeight, rows: R, C: C, OC: Q + 2 * KV)
            split(fused, rows: R, into: [(queries, Q), (keys, KV), (values, KV)])
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
            Kernels.linearForward(fused, normalized, p + w.gateWeight, rows: R, C: C, OC: 2 * I)
            split(fused, rows: R, into: [(gate, I), (up, I)])
            Kernels.swigluForward(gated, gate, up, count: R * I)
            Kernels.linearForward(projection, gated, p + w.downWeight, rows: R, C: I, OC: C)
            for i in 0..<(R * C) { residual[i] += projection[i] }
        }
        Kernels.rmsNormForward(normalized, rstd, residual, p + layout.finalNormWeight, rows: R, C: C, epsilon: epsilon)
        Kernels.linearForward(logits, normalized, p + layout.outputHead, rows: R, C: C, OC: V)
    }
}
