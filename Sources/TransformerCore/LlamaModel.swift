import Foundation

/// The Llama family's block variant of the core: a token embedding without learned positions,
/// pre-RMSNorm blocks of causal grouped-query attention with rotary position embeddings and a
/// SwiGLU feed-forward layer, no biases, a final RMSNorm, and an output head tied to the
/// embedding or not. Forward and backward over one parameter buffer, with the same kernels,
/// losses, masks and heads as `GPT2Model`.
///
/// Not thread-safe: one model instance trains or samples on one thread at a time.
public final class LlamaModel: LanguageModel {
    public let configuration: LlamaConfiguration
    public let layout: LlamaParameterLayout
    public let parameters: FloatBuffer
    public private(set) var gradients: FloatBuffer?

    /// RoPE's cosines and sines for every position of the context, [contextLength, headSize/2].
    let rotaryCosines: [Float], rotarySines: [Float]
    private(set) var activations: LlamaActivations?
    private var activationGradients: LlamaActivationGradients?
    private var tokens: [Int32] = []
    private var positions: [Int32] = []
    private var keyMask: [UInt8]?
    private var targets: [Int32] = []
    private var targetCount = 0
    /// Where the last forward pass ran the output head.
    private let headRows = OutputHeadRows()

    public init(configuration: LlamaConfiguration) throws {
        try configuration.validate()
        BLASThreads.useTallysOwnParallelism()
        self.configuration = configuration
        layout = LlamaParameterLayout(configuration)
        parameters = FloatBuffer(count: layout.totalCount)
        (rotaryCosines, rotarySines) = Kernels.rotaryTables(positions: configuration.contextLength,
                                                             inverseFrequencies: configuration.rotaryInverseFrequencies)
    }

    public var parameterCount: Int { layout.totalCount }

    public private(set) lazy var trainedBlockCount = configuration.layerCount

    public func setTrainedBlockCount(_ count: Int) throws {
        trainedBlockCount = try ForwardInputs.checkTrainedBlockCount(count, layerCount: configuration.layerCount)
    }

    /// A tied token embedding is also the output head above the blocks, so it always trains.
    public var trainedParameterTensors: [ParameterLayout.Tensor] {
        ForwardInputs.trainedTensors(layout.tensors, blockPrefix: "model.layers.", layerCount: configuration.layerCount, trainedBlockCount: trainedBlockCount,
                                     belowTheBlocks: configuration.tiedOutputHead ? [] : ["model.embed_tokens.weight"])
    }

    /// Floats held for the last forward and backward pass (activations and their gradients).
    public var activationFloatCount: Int { (activations?.floatCount ?? 0) + (activationGradients?.floatCount ?? 0) }

    /// Runs the model on `tokens` ([B,T] row-major); the arguments mean what they mean for
    /// `GPT2Model.forward`. Positions default to 0..<T in each row; a left-padded row passes
    /// its own (Hugging Face's cumsum(mask) - 1) with an attention mask.
    @discardableResult
    public func forward(tokens: [Int32], targets: [Int32]? = nil, attentionMask: [UInt8]? = nil, positionIDs: [Int32]? = nil,
                        batchSize B: Int, sequenceLength T: Int, forBackward: Bool = true, logits logitPositions: LogitPositions = .every) throws -> ForwardOutput {
        let (V, C, L) = (configuration.vocabularySize, configuration.width, configuration.layerCount)
        let (NH, KVH, hs, I) = (configuration.headCount, configuration.keyValueHeadCount, configuration.headSize, configuration.intermediateSize)
        let (Q, KV) = (configuration.queryWidth, configuration.keyValueWidth)
        try ForwardInputs.validate(tokens: tokens, targets: targets, attentionMask: attentionMask, positionIDs: positionIDs, batchSize: B,
                                   sequenceLength: T, vocabularySize: V, contextLength: configuration.contextLength)
        guard logitPositions != .skipped || targets == nil else { throw ModelInputError.needsForwardPass("a loss needs the logits (logits: .every or .targets)") }
        if activations?.batchSize != B || activations?.sequenceLength != T || activations?.keepsEveryLayer != forBackward || activations?.holdsLogits != (logitPositions != .skipped) {
            let previous = activations?.storage
            activations = nil
            activations = LlamaActivations(configuration: configuration, batchSize: B, sequenceLength: T, keepsEveryLayer: forBackward,
                                           holdsLogits: logitPositions != .skipped, reusing: previous)
        }
        let a = activations!
        let p = parameters.pointer
        let N = B * T
        self.tokens = tokens
        self.positions = positionIDs ?? (0..<B).flatMap { _ in (0..<T).map(Int32.init) }
        self.keyMask = attentionMask
        self.targets = targets ?? [Int32](repeating: -1, count: N)

        tokens.withUnsafeBufferPointer { Kernels.embeddingForward(a.embedded, $0.baseAddress!, p + layout.tokenEmbedding, rows: N, C: C) }
        for l in 0..<L {
            let w = layout.blocks[l]
            // With one kept layer, residual3 is also the next layer's input: it is read before it is rewritten.
            let kept = a.kept(l)
            let residual = l == 0 ? a.embedded : a.residual3 + a.kept(l - 1) * N * C
            let norm1 = a.attentionNorm + kept * N * C, rstd1 = a.attentionNormRstd + kept * N
            let q = a.queries + kept * N * Q, k = a.keys + l * N * KV, v = a.values + l * N * KV
            let attention = a.attentionOutput + kept * N * Q, weights = a.attentionWeights + kept * B * NH * T * T
            let residual2 = a.residual2 + kept * N * C, norm2 = a.feedForwardNorm + kept * N * C, rstd2 = a.feedForwardNormRstd + kept * N
            let gate = a.gate + kept * N * I, up = a.up + kept * N * I, gated = a.gated + kept * N * I, residual3 = a.residual3 + kept * N * C

            Kernels.rmsNormForward(norm1, rstd1, residual, p + w.attentionNormWeight, rows: N, C: C, epsilon: configuration.rmsNormEpsilon)
            Kernels.linearForward(q, norm1, p + w.queryWeight, rows: N, C: C, OC: Q)
            Kernels.linearForward(k, norm1, p + w.keyWeight, rows: N, C: C, OC: KV)
            Kernels.linearForward(v, norm1, p + w.valueWeight, rows: N, C: C, OC: KV)
            rotate(q, heads: NH, rows: N, inverse: false)
            rotate(k, heads: KVH, rows: N, inverse: false)
            withOptionalPointer(attentionMask) { mask in
                Kernels.attentionForward(out: .init(base: attention, stride: Q), weights, queries: .init(base: q, stride: Q),
                                         keys: .init(base: k, stride: KV), values: .init(base: v, stride: KV), mask,
                                         B: B, T: T, headCount: NH, keyValueHeadCount: KVH, headSize: hs)
            }
            Kernels.linearForward(residual2, attention, p + w.outputWeight, rows: N, C: Q, OC: C)
            for i in 0..<(N * C) { residual2[i] += residual[i] }
            Kernels.rmsNormForward(norm2, rstd2, residual2, p + w.feedForwardNormWeight, rows: N, C: C, epsilon: configuration.rmsNormEpsilon)
            Kernels.linearForward(gate, norm2, p + w.gateWeight, rows: N, C: C, OC: I)
            Kernels.linearForward(up, norm2, p + w.upWeight, rows: N, C: C, OC: I)
            Kernels.swigluForward(gated, gate, up, count: N * I)
            Kernels.linearForward(residual3, gated, p + w.downWeight, rows: N, C: I, OC: C)
            for i in 0..<(N * C) { residual3[i] += residual2[i] }
        }
        let last = a.residual3 + a.kept(L - 1) * N * C
        Kernels.rmsNormForward(a.finalNorm, a.finalNormRstd, last, p + layout.finalNormWeight, rows: N, C: C, epsilon: configuration.rmsNormEpsilon)
        headRows.select(logitPositions, targets: self.targets, hiddenStates: a.finalNorm, width: C)
        let M = headRows.count
        if M > 0 { Kernels.linearForward(a.logits, headRows.input(a.finalNorm), p + layout.outputHead, rows: M, C: C, OC: V) }

        // Without backward, targets only name what `tokenLogProbabilities` reads: the loss's
        // probabilities are not held, so no loss.
        guard targets != nil, forBackward else {
            targetCount = 0
            return ForwardOutput(loss: nil)
        }
        headRows.targets.withUnsafeBufferPointer { Kernels.crossEntropyForward(a.losses, a.probabilities, a.logits, $0.baseAddress!, rows: M, V: V) }
        let (loss, count) = ForwardInputs.meanLoss(a.losses, targets: headRows.targets)
        targetCount = count
        return ForwardOutput(loss: loss)
    }

    /// Rotates the heads of `x` ([rows, heads * headSize]) by each row's position.
    private func rotate(_ x: FloatPointer, heads: Int, rows: Int, inverse: Bool) {
        positions.withUnsafeBufferPointer { positions in
            rotaryCosines.withUnsafeBufferPointer { cosines in
                rotarySines.withUnsafeBufferPointer { sines in
                    Kernels.rotaryForward(x, positions.baseAddress!, cosines: cosines.baseAddress!, sines: sines.baseAddress!, rows: rows,
                                          heads: heads, headSize: configuration.headSize, layout: configuration.rotaryLayout, inverse: inverse)
                }
            }
        }
    }

    /// The logits of the last forward pass, [B,T,V] (with `logits: .targets`, the rows of the
    /// positions with a target, in order: `logitRow(ofPosition:)`).
    public var logits: UnsafeBufferPointer<Float> {
        guard let a = activations, a.holdsLogits else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: a.logits, count: headRows.count * configuration.vocabularySize)
    }

    public func logitRow(ofPosition position: Int) -> Int? { headRows.row(ofPosition: position) }

    /// The final hidden states (after the last RMSNorm) of the last forward pass, [B,T,C].
    public var finalHiddenStates: UnsafeBufferPointer<Float> {
        guard let a = activations else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: a.finalNorm, count: a.batchSize * a.sequenceLength * configuration.width)
    }

    public func zeroGradients() {
        gradients?.zero()
    }

    /// Accumulates gradients for the last forward pass, as `GPT2Model.backward` does.
    public func backward(finalHiddenGradient: [Float]? = nil) throws {
        try backward(targetCount > 0 ? .meanLoss : nil, finalHiddenGradient: finalHiddenGradient)
    }

    public func backward(logProbabilityGradients: [Float], temperature: Float, finalHiddenGradient: [Float]? = nil) throws {
        try ForwardInputs.checkPerTokenGradients(logProbabilityGradients, temperature: temperature, targets: targets)
        try backward(.perToken(logProbabilityGradients, temperature: temperature), finalHiddenGradient: finalHiddenGradient)
    }

    public func tokenLogProbabilities(temperature: Float) throws -> [Float] {
        guard let a = activations, targets.count == a.batchSize * a.sequenceLength else { throw ModelInputError.needsForwardPass("log-probabilities need a forward pass first") }
        guard a.holdsLogits else { throw ModelInputError.needsForwardPass("log-probabilities need a forward pass that computes the logits") }
        return headRows.perPosition(try ForwardInputs.tokenLogProbabilities(logits: a.logits, targets: headRows.targets, vocabularySize: configuration.vocabularySize,
                                                                            temperature: temperature), positionCount: targets.count)
    }

    private func backward(_ logitGradient: ForwardInputs.LogitGradient?, finalHiddenGradient: [Float]?) throws {
        guard let a = activations else { throw ModelInputError.needsForwardPass("backward needs a forward pass first") }
        guard a.keepsEveryLayer else { throw ModelInputError.needsForwardPass("backward needs a forward pass for backward (forBackward: true)") }
        let (V, C, L) = (configuration.vocabularySize, configuration.width, configuration.layerCount)
        let (NH, KVH, hs, I) = (configuration.headCount, configuration.keyValueHeadCount, configuration.headSize, configuration.intermediateSize)
        let (Q, KV) = (configuration.queryWidth, configuration.keyValueWidth)
        let (B, T) = (a.batchSize, a.sequenceLength)
        let N = B * T, M = headRows.count
        try ForwardInputs.checkBackward(targetCount: logitGradient == nil ? 0 : 1, finalHiddenGradient: finalHiddenGradient, rows: N, width: C)
        if logitGradient != nil, !a.holdsLogits { throw ModelInputError.needsForwardPass("a gradient of log-probabilities needs a forward pass that computes the logits") }
        if gradients == nil { gradients = FloatBuffer(count: layout.totalCount) }
        if activationGradients?.rows != N || activationGradients?.sequenceLength != T {
            activationGradients = LlamaActivationGradients(configuration: configuration, rows: N, sequenceLength: T, reusing: activationGradients?.storage)
        }
        let g = gradients!.pointer, p = parameters.pointer, d = activationGradients!
        d.finalNorm.update(repeating: 0, count: N * C)
        switch logitGradient {
        case .meanLoss?:
            // d logits overwrite the probabilities (see crossEntropyBackwardInPlace).
            headRows.targets.withUnsafeBufferPointer { Kernels.crossEntropyBackwardInPlace(a.probabilities, $0.baseAddress!, lossScale: 1 / Float(targetCount), rows: M, V: V) }
            Kernels.linearBackward(headRows.inputGradient(d.finalNorm), g + layout.outputHead, a.probabilities, headRows.input(a.finalNorm), p + layout.outputHead, rows: M, C: C, OC: V)
            headRows.addInputGradient(to: d.finalNorm)
            targetCount = 0
        case .perToken(let gradients, let temperature)?:
            // d logits go to the probabilities' buffer too; the logits stay, so this may repeat.
            headRows.targets.withUnsafeBufferPointer { targets in
                headRows.atRows(gradients).withUnsafeBufferPointer {
                    Kernels.logProbabilityBackward(a.probabilities, a.logits, targets.baseAddress!, $0.baseAddress!, temperature: temperature, rows: M, V: V)
                }
            }
            Kernels.linearBackward(headRows.inputGradient(d.finalNorm), g + layout.outputHead, a.probabilities, headRows.input(a.finalNorm), p + layout.outputHead, rows: M, C: C, OC: V)
            headRows.addInputGradient(to: d.finalNorm)
        case nil:
            break
        }
        if let finalHiddenGradient {
            for i in 0..<(N * C) { d.finalNorm[i] += finalHiddenGradient[i] }
        }
        var incoming = d.residualA, outgoing = d.residualB
        incoming.update(repeating: 0, count: N * C)
        Kernels.rmsNormBackward(incoming, g + layout.finalNormWeight, d.finalNorm, a.residual3 + (L - 1) * N * C, p + layout.finalNormWeight,
                                a.finalNormRstd, rows: N, C: C)

        for l in stride(from: L - 1, through: L - trainedBlockCount, by: -1) {
            let w = layout.blocks[l]
            let residual = l == 0 ? a.embedded : a.residual3 + (l - 1) * N * C
            let offsetC = l * N * C, offsetI = l * N * I
            d.zeroLayerBuffers()
            // residual3 = residual2 + down(gated): both get d(residual3).
            outgoing.update(from: incoming, count: N * C)
            Kernels.linearBackward(d.gated, g + w.downWeight, incoming, a.gated + offsetI, p + w.downWeight, rows: N, C: I, OC: C)
            Kernels.swigluBackward(d.gate, d.up, d.gated, a.gate + offsetI, a.up + offsetI, count: N * I)
            Kernels.linearBackward(d.norm, g + w.gateWeight, d.gate, a.feedForwardNorm + offsetC, p + w.gateWeight, rows: N, C: C, OC: I)
            Kernels.linearBackward(d.norm, g + w.upWeight, d.up, a.feedForwardNorm + offsetC, p + w.upWeight, rows: N, C: C, OC: I)
            Kernels.rmsNormBackward(outgoing, g + w.feedForwardNormWeight, d.norm, a.residual2 + offsetC, p + w.feedForwardNormWeight,
                                    a.feedForwardNormRstd + l * N, rows: N, C: C)
            // residual2 = residual + o_proj(attention): both get d(residual2), now in `outgoing`.
            Kernels.linearBackward(d.attentionOutput, g + w.outputWeight, outgoing, a.attentionOutput + l * N * Q, p + w.outputWeight, rows: N, C: Q, OC: C)
            Kernels.attentionBackward(dqueries: .init(base: d.queries, stride: Q), dkeys: .init(base: d.keys, stride: KV),
                                      dvalues: .init(base: d.values, stride: KV), dout: .init(base: d.attentionOutput, stride: Q),
                                      queries: .init(base: a.queries + l * N * Q, stride: Q), keys: .init(base: a.keys + l * N * KV, stride: KV),
                                      values: .init(base: a.values + l * N * KV, stride: KV), a.attentionWeights + l * B * NH * T * T,
                                      scratch: d.attentionScratch, B: B, T: T, headCount: NH, keyValueHeadCount: KVH, headSize: hs)
            // The stored queries and keys are rotated; their gradients rotate back.
            rotate(d.queries, heads: NH, rows: N, inverse: true)
            rotate(d.keys, heads: KVH, rows: N, inverse: true)
            d.norm.update(repeating: 0, count: N * C)
            let norm1 = a.attentionNorm + offsetC
            Kernels.linearBackward(d.norm, g + w.queryWeight, d.queries, norm1, p + w.queryWeight, rows: N, C: C, OC: Q)
            Kernels.linearBackward(d.norm, g + w.keyWeight, d.keys, norm1, p + w.keyWeight, rows: N, C: C, OC: KV)
            Kernels.linearBackward(d.norm, g + w.valueWeight, d.values, norm1, p + w.valueWeight, rows: N, C: C, OC: KV)
            Kernels.rmsNormBackward(outgoing, g + w.attentionNormWeight, d.norm, residual, p + w.attentionNormWeight, a.attentionNormRstd + l * N, rows: N, C: C)
            swap(&incoming, &outgoing)
        }
        guard trainedBlockCount == L else { return }
        tokens.withUnsafeBufferPointer { Kernels.embeddingBackward(g + layout.tokenEmbedding, incoming, $0.baseAddress!, rows: N, C: C) }
    }


    /// Llama's initialization, seeded: weights normal with standard deviation 0.02 (Hugging
    /// Face's `initializer_range`), norm gains one.
    public func initializeParameters(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let p = parameters.pointer
        for tensor in layout.tensors {
            if tensor.shape.count == 1 {
                for i in tensor.range { p[i] = 1 }
            } else {
                for i in tensor.range { p[i] = random.nextNormal() * 0.02 }
            }
        }
    }
}
