import Foundation

/// Every intermediate value a Llama-family forward pass keeps for backward, for one batch size B
/// and sequence length T, each a slice of one buffer. N = B*T rows; Q and KV are the query and
/// key/value widths, I the feed-forward width, L the layer count. Without `keepsEveryLayer`
/// (sampling's forward pass) each per-layer field holds one layer except the keys and values,
/// which fill the sampler's cache, and there are no probabilities or losses.
final class LlamaActivations {
    let batchSize: Int
    let sequenceLength: Int
    let keepsEveryLayer: Bool
    /// False for a pass that stops at the final hidden states (a reward model's).
    let holdsLogits: Bool
    /// The one buffer the fields are cut from; a later pass of another shape reuses it when it is large enough.
    let storage: FloatBuffer

    let embedded: FloatPointer           // [N,C]
    let attentionNorm: FloatPointer      // [L,N,C]
    let attentionNormRstd: FloatPointer  // [L,N]
    let queries: FloatPointer            // [L,N,Q], after RoPE
    let keys: FloatPointer               // [L,N,KV], after RoPE
    let values: FloatPointer             // [L,N,KV]
    let attentionWeights: FloatPointer   // [L,B,NH,T,T]
    let attentionOutput: FloatPointer    // [L,N,Q]
    let residual2: FloatPointer          // [L,N,C]
    let feedForwardNorm: FloatPointer    // [L,N,C]
    let feedForwardNormRstd: FloatPointer // [L,N]
    let gate: FloatPointer               // [L,N,I]
    let up: FloatPointer                 // [L,N,I]
    let gated: FloatPointer              // [L,N,I], silu(gate) * up
    let residual3: FloatPointer          // [L,N,C]
    let finalNorm: FloatPointer          // [N,C]
    let finalNormRstd: FloatPointer      // [N]
    let logits: FloatPointer             // [N,V]
    let probabilities: FloatPointer      // [N,V]
    let losses: FloatPointer             // [N]

    /// The floats this shape uses (the storage may be larger, reused from a larger pass).
    var floatCount: Int

    init(configuration: LlamaConfiguration, batchSize B: Int, sequenceLength T: Int, keepsEveryLayer: Bool = true, holdsLogits: Bool = true, reusing previous: FloatBuffer? = nil) {
        batchSize = B
        sequenceLength = T
        self.keepsEveryLayer = keepsEveryLayer
        self.holdsLogits = holdsLogits
        let (C, L, NH, V, I) = (configuration.width, configuration.layerCount, configuration.headCount, configuration.vocabularySize, configuration.intermediateSize)
        let (Q, KV, N) = (configuration.queryWidth, configuration.keyValueWidth, B * T)
        let K = keepsEveryLayer ? L : 1, loss = keepsEveryLayer && holdsLogits ? 1 : 0, logitRows = holdsLogits ? N : 0
        let sizes = [
            N * C, K * N * C, K * N, K * N * Q, L * N * KV, L * N * KV, K * B * NH * T * T, K * N * Q, K * N * C, K * N * C, K * N,
            K * N * I, K * N * I, K * N * I, K * N * C, N * C, N, logitRows * V, loss * N * V, loss * N,
        ]
        let p: [FloatPointer]
        (storage, p) = FloatBuffer.carved(into: sizes, reusing: previous)
        floatCount = sizes.reduce(0, +)
        (embedded, attentionNorm, attentionNormRstd, queries, keys, values, attentionWeights) = (p[0], p[1], p[2], p[3], p[4], p[5], p[6])
        (attentionOutput, residual2, feedForwardNorm, feedForwardNormRstd, gate, up, gated) = (p[7], p[8], p[9], p[10], p[11], p[12], p[13])
        (residual3, finalNorm, finalNormRstd, logits, probabilities, losses) = (p[14], p[15], p[16], p[17], p[18], p[19])
    }

    /// Where layer `l`'s per-layer fields lie: layer l's own slice, or the one shared slice.
    func kept(_ l: Int) -> Int { keepsEveryLayer ? l : 0 }
}

/// Gradients of the activations during backward: one block's worth, reused from the last block
/// to the first, and two residual-stream gradients that take turns (as `ActivationGradients`).
final class LlamaActivationGradients {
    let rows: Int
    let sequenceLength: Int
    /// The one buffer the fields are cut from; a later pass of another shape reuses it when it is large enough.
    let storage: FloatBuffer
    let residualA, residualB: FloatPointer   // [N,C] each
    let finalNorm: FloatPointer              // [N,C]
    let norm: FloatPointer                   // [N,C], reused for both norms of a block
    let queries: FloatPointer                // [N,Q]
    let keys: FloatPointer                   // [N,KV]
    let values: FloatPointer                 // [N,KV]
    let attentionOutput: FloatPointer        // [N,Q]
    let gate, up, gated: FloatPointer        // [N,I] each
    /// Each core's d(attention weights): [cores, T, T].
    let attentionScratch: FloatPointer
    private let layerStart: FloatPointer
    private let layerCount: Int

    /// The floats this shape uses (the storage may be larger, reused from a larger pass).
    var floatCount: Int

    init(configuration: LlamaConfiguration, rows N: Int, sequenceLength T: Int, reusing previous: FloatBuffer? = nil) {
        rows = N
        sequenceLength = T
        let (C, I, Q, KV) = (configuration.width, configuration.intermediateSize, configuration.queryWidth, configuration.keyValueWidth)
        let cores = ComputeThreads.maximumCount
        let sizes = [N * C, N * C, N * C, N * C, N * Q, N * KV, N * KV, N * Q, N * I, N * I, N * I, cores * T * T]
        let p: [FloatPointer]
        (storage, p) = FloatBuffer.carved(into: sizes, reusing: previous)
        floatCount = sizes.reduce(0, +)
        (residualA, residualB, finalNorm, norm) = (p[0], p[1], p[2], p[3])
        (queries, keys, values, attentionOutput, gate, up, gated) = (p[4], p[5], p[6], p[7], p[8], p[9], p[10])
        attentionScratch = p[11]
        layerStart = norm
        layerCount = sizes[3...10].reduce(0, +)
    }

    /// Zeroes the per-block gradients (backward functions accumulate into them).
    func zeroLayerBuffers() { layerStart.update(repeating: 0, count: layerCount) }
}
