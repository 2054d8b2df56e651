import Foundation

extension GPT2Model: IncrementalDecoding {
    /// Samples a continuation of each prompt with a key/value cache (`Decoding.sample`).
    public func sample(prompts: [[Int32]], options: SamplingOptions, observer: TokenObserver?) throws -> [SampledSequence] {
        try Decoding.sample(self, prompts: prompts, options: options, observer: observer)
    }

    var layerCount: Int { configuration.layerCount }
    var keyValueWidth: Int { configuration.width }

    func cachePrefill(_ cache: KeyValueCache, layer: Int, sequence: Int, position: Int, row: Int) {
        let C = configuration.width
        let qkv = activations!.qkv + row * 3 * C
        cache.key(layer: layer, sequence: sequence, position: position).update(from: qkv + C, count: C)
        cache.value(layer: layer, sequence: sequence, position: position).update(from: qkv + 2 * C, count: C)
    }

    func makeDecodingStep(rows: Int) -> GPT2IncrementalStep { GPT2IncrementalStep(configuration: configuration, rows: rows) }
}


/// One GPT-2 decoding step for several sequences at once: each row is one sequence's newest token at
/// its own position. Its buffers are sized once for the largest number of rows.
final class GPT2IncrementalStep: DecodingStep {
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
