import Foundation

/// Every intermediate value the forward pass keeps for backward, for one batch size B and
/// sequence length T, each a slice of one buffer. Shapes per field; L is the layer count.
/// Without `keepsEveryLayer` (a forward pass for sampling, with no backward to follow) each
/// per-layer field holds one layer, reused by every layer, except `qkv`, whose keys and values
/// fill the sampler's cache; and there are no probabilities or losses.
final class Activations {
    let batchSize: Int
    let sequenceLength: Int
    let keepsEveryLayer: Bool
    /// False for a pass that stops at the final hidden states (a reward model's): no logits,
    /// probabilities or losses are kept, [N,V] floats each.
    let holdsLogits: Bool
    /// The one buffer the fields are cut from; a later pass of another shape reuses it when it is large enough.
    let storage: FloatBuffer

    let encoded: FloatPointer            // [B,T,C]
    let layerNorm1: FloatPointer         // [L,B,T,C]
    let layerNorm1Mean: FloatPointer     // [L,B,T]
    let layerNorm1Rstd: FloatPointer     // [L,B,T]
    let qkv: FloatPointer                // [L,B,T,3C]
    let attentionOutput: FloatPointer    // [L,B,T,C]
    let attentionWeights: FloatPointer   // [L,B,NH,T,T]
    let attentionProjection: FloatPointer // [L,B,T,C]
    let residual2: FloatPointer          // [L,B,T,C]
    let layerNorm2: FloatPointer         // [L,B,T,C]
    let layerNorm2Mean: FloatPointer     // [L,B,T]
    let layerNorm2Rstd: FloatPointer     // [L,B,T]
    let feedForward: FloatPointer        // [L,B,T,4C]
    let feedForwardGelu: FloatPointer    // [L,B,T,4C]
    let feedForwardProjection: FloatPointer // [L,B,T,C]
    let residual3: FloatPointer          // [L,B,T,C]
    let finalLayerNorm: FloatPointer     // [B,T,C]
    let finalLayerNormMean: FloatPointer // [B,T]
    let finalLayerNormRstd: FloatPointer // [B,T]
    let logits: FloatPointer             // [B,T,V]
    let probabilities: FloatPointer      // [B,T,V]
    let losses: FloatPointer             // [B,T]

    /// The floats this shape uses (the storage may be larger, reused from a larger pass).
    var floatCount: Int

    init(configuration: GPT2Configuration, batchSize B: Int, sequenceLength T: Int, keepsEveryLayer: Bool = true, holdsLogits: Bool = true, reusing previous: FloatBuffer? = nil) {
        batchSize = B
        sequenceLength = T
        self.keepsEveryLayer = keepsEveryLayer
        self.holdsLogits = holdsLogits
        let (C, L, NH, V) = (configuration.width, configuration.layerCount, configuration.headCount, configuration.vocabularySize)
        let K = keepsEveryLayer ? L : 1, loss = keepsEveryLayer && holdsLogits ? 1 : 0, logitRows = holdsLogits ? B * T : 0
        let sizes = [
            B * T * C, K * B * T * C, K * B * T, K * B * T, L * B * T * 3 * C, K * B * T * C, K * B * NH * T * T,
            K * B * T * C, K * B * T * C, K * B * T * C, K * B * T, K * B * T, K * B * T * 4 * C, K * B * T * 4 * C,
            K * B * T * C, K * B * T * C, B * T * C, B * T, B * T, logitRows * V, loss * B * T * V, loss * B * T,
        ]
        let pointers: [FloatPointer]
        (storage, pointers) = FloatBuffer.carved(into: sizes, reusing: previous)
        floatCount = sizes.reduce(0, +)
        (encoded, layerNorm1, layerNorm1Mean, layerNorm1Rstd, qkv, attentionOutput, attentionWeights) =
            (pointers[0], pointers[1], pointers[2], pointers[3], pointers[4], pointers[5], pointers[6])
        (attentionProjection, residual2, layerNorm2, layerNorm2Mean, layerNorm2Rstd, feedForward, feedForwardGelu) =
            (pointers[7], pointers[8], pointers[9], pointers[10], pointers[11], pointers[12], pointers[13])
        (feedForwardProjection, residual3, finalLayerNorm, finalLayerNormMean, finalLayerNormRstd, logits, probabilities, losses) =
            (pointers[14], pointers[15], pointers[16], pointers[17], pointers[18], pointers[19], pointers[20], pointers[21])
    }


    /// Where layer `l`'s per-layer fields lie: layer l's own slice, or the one shared slice.
    func kept(_ l: Int) -> Int { keepsEveryLayer ? l : 0 }
}

/// Gradients of the activations during backward. Backward walks the blocks from last to first
/// and needs each block's intermediate gradients only while in that block, so one block's worth
/// is kept and reused (as in llm.c's later versions), plus two residual-stream gradients that
/// take turns: a fraction of the memory of a full copy of `Activations`.
final class ActivationGradients {
    let rows: Int
    let sequenceLength: Int
    /// The one buffer the fields are cut from; a later pass of another shape reuses it when it is large enough.
    let storage: FloatBuffer
    let residualA, residualB: FloatPointer       // [N,C] each
    let finalLayerNorm: FloatPointer             // [N,C]
    let layerNorm: FloatPointer                  // [N,C], reused for ln_1 and ln_2
    let qkv: FloatPointer                        // [N,3C]
    let attentionOutput: FloatPointer            // [N,C]
    let feedForward: FloatPointer                // [N,4C]
    let feedForwardGelu: FloatPointer            // [N,4C]
    /// Each core's d(attention weights) while attention backward runs: [cores, T, T]. Kept here
    /// so backward allocates nothing (fresh half-megabyte blocks per layer cost page faults).
    let attentionScratch: FloatPointer
    private let layerStart: FloatPointer
    private let layerCount: Int

    /// The floats this shape uses (the storage may be larger, reused from a larger pass).
    var floatCount: Int

    init(configuration: GPT2Configuration, rows N: Int, sequenceLength T: Int, reusing previous: FloatBuffer? = nil) {
        rows = N
        sequenceLength = T
        let C = configuration.width
        let cores = ComputeThreads.maximumCount
        let sizes = [N * C, N * C, N * C, N * C, N * 3 * C, N * C, N * 4 * C, N * 4 * C, cores * T * T]
        let pointers: [FloatPointer]
        (storage, pointers) = FloatBuffer.carved(into: sizes, reusing: previous)
        floatCount = sizes.reduce(0, +)
        (residualA, residualB, finalLayerNorm, layerNorm) = (pointers[0], pointers[1], pointers[2], pointers[3])
        (qkv, attentionOutput, feedForward, feedForwardGelu) = (pointers[4], pointers[5], pointers[6], pointers[7])
        attentionScratch = pointers[8]
        layerStart = layerNorm
        layerCount = sizes[3...7].reduce(0, +)
    }

    /// Zeroes the per-block gradients (backward functions accumulate into them).
    func zeroLayerBuffers() { layerStart.update(repeating: 0, count: layerCount) }
}
