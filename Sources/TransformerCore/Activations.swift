/// Every intermediate value the forward pass keeps for backward, for one batch size B and
/// sequence length T, each a slice of one buffer. Shapes per field; L is the layer count.
final class Activations {
    let batchSize: Int
    let sequenceLength: Int
    private let storage: FloatBuffer

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

    var floatCount: Int { storage.count }

    init(configuration: GPT2Configuration, batchSize B: Int, sequenceLength T: Int) {
        batchSize = B
        sequenceLength = T
        let (C, L, NH, V) = (configuration.width, configuration.layerCount, configuration.headCount, configuration.vocabularySize)
        let sizes = [
            B * T * C, L * B * T * C, L * B * T, L * B * T, L * B * T * 3 * C, L * B * T * C, L * B * NH * T * T,
            L * B * T * C, L * B * T * C, L * B * T * C, L * B * T, L * B * T, L * B * T * 4 * C, L * B * T * 4 * C,
            L * B * T * C, L * B * T * C, B * T * C, B * T, B * T, B * T * V, B * T * V, B * T,
        ]
        storage = FloatBuffer(count: sizes.reduce(0, +))
        var pointers: [FloatPointer] = []
        var offset = 0
        for size in sizes {
            pointers.append(storage.pointer + offset)
            offset += size
        }
        (encoded, layerNorm1, layerNorm1Mean, layerNorm1Rstd, qkv, attentionOutput, attentionWeights) =
            (pointers[0], pointers[1], pointers[2], pointers[3], pointers[4], pointers[5], pointers[6])
        (attentionProjection, residual2, layerNorm2, layerNorm2Mean, layerNorm2Rstd, feedForward, feedForwardGelu) =
            (pointers[7], pointers[8], pointers[9], pointers[10], pointers[11], pointers[12], pointers[13])
        (feedForwardProjection, residual3, finalLayerNorm, finalLayerNormMean, finalLayerNormRstd, logits, probabilities, losses) =
            (pointers[14], pointers[15], pointers[16], pointers[17], pointers[18], pointers[19], pointers[20], pointers[21])
    }

    func zero() { storage.zero() }
}
