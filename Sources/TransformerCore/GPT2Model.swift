import Foundation

/// GPT-2: token and learned position embeddings, pre-LayerNorm blocks of causal multi-head
/// self-attention and a GELU feed-forward layer with residuals, a final LayerNorm, and an output
/// head tied to the token embedding. Forward and backward over one parameter buffer, llm.c style.
///
/// Not thread-safe: one model instance trains or samples on one thread at a time (its kernels
/// use every core themselves).
public final class GPT2Model: LanguageModel {
    public let configuration: GPT2Configuration
    public let layout: ParameterLayout
    public let parameters: FloatBuffer
    public private(set) var gradients: FloatBuffer?

    private(set) var activations: Activations?
    private var activationGradients: ActivationGradients?
    private var tokens: [Int32] = []
    private var positions: [Int32]?
    private var keyMask: [UInt8]?
    private var targets: [Int32] = []
    private var targetCount = 0
    /// Where the last forward pass ran the output head.
    private let headRows = OutputHeadRows()

    public init(configuration: GPT2Configuration) throws {
        try configuration.validate()
        BLASThreads.useTallysOwnParallelism()
        self.configuration = configuration
        layout = ParameterLayout(configuration)
        parameters = FloatBuffer(count: layout.totalCount)
    }

    public var parameterCount: Int { layout.totalCount }

    public private(set) lazy var trainedBlockCount = configuration.layerCount

    public func setTrainedBlockCount(_ count: Int) throws {
        trainedBlockCount = try ForwardInputs.checkTrainedBlockCount(count, layerCount: configuration.layerCount)
    }

    /// The token embedding is also the (tied) output head, so it always trains; the position
    /// embedding only when every block does.
    public var trainedParameterTensors: [ParameterLayout.Tensor] {
        ForwardInputs.trainedTensors(layout.tensors, blockPrefix: "transformer.h.", layerCount: configuration.layerCount, trainedBlockCount: trainedBlockCount,
                                     belowTheBlocks: ["transformer.wpe.weight"])
    }

    /// Floats held for the last forward and backward pass (activations and their gradients).
    public var activationFloatCount: Int { (activations?.floatCount ?? 0) + (activationGradients?.floatCount ?? 0) }

    public typealias Output = ForwardOutput

    /// Runs the model on `tokens` ([B,T] row-major). With `targets` ([B,T], -1 where a position
    /// has no target: padding, prompt tokens in fine-tuning) it also computes the mean loss.
    ///
    /// Padding: `attentionMask` ([B,T], 1 for a real token, 0 for padding) keeps padding out of
    /// every attention; `positionIDs` ([B,T]) gives each token its position, so a left-padded
    /// sequence's first real token is at position 0 (Hugging Face's cumsum(mask) - 1). Right
    /// padding needs neither: causal attention never looks ahead.
    @discardableResult
    ///
    /// `forBackward` false (sampling's prefill) keeps one layer's activations instead of every
    /// layer's, the keys and values aside: a fraction of the memory, and no backward or loss after.
    public func forward(tokens: [Int32], targets: [Int32]? = nil, attentionMask: [UInt8]? = nil, positionIDs: [Int32]? = nil,
                        batchSize B: Int, sequenceLength T: Int, forBackward: Bool = true, logits logitPositions: LogitPositions = .every) throws -> Output {
        let (V, C, L, NH) = (configuration.vocabularySize, configuration.width, configuration.layerCount, configuration.headCount)
        try ForwardInputs.validate(tokens: tokens, targets: targets, attentionMask: attentionMask, positionIDs: positionIDs, batchSize: B,
                                   sequenceLength: T, vocabularySize: V, contextLength: configuration.contextLength)
        guard logitPositions != .skipped || targets == nil else { throw ModelInputError.needsForwardPass("a loss needs the logits (logits: .every or .targets)") }
        if activations?.batchSize != B || activations?.sequenceLength != T || activations?.keepsEveryLayer != forBackward || activations?.holdsLogits != (logitPositions != .skipped) {
            let previous = activations?.storage
            activations = nil
            activations = Activations(configuration: configuration, batchSize: B, sequenceLength: T, keepsEveryLayer: forBackward,
                                      holdsLogits: logitPositions != .skipped, reusing: previous)
        }
        let a = activations!
        let p = parameters.pointer
        self.tokens = tokens
        self.positions = positionIDs
        self.keyMask = attentionMask
        self.targets = targets ?? [Int32](repeating: -1, count: B * T)
        let N = B * T

        tokens.withUnsafeBufferPointer { tokens in
            withOptionalPointer(positionIDs) { positions in
                Kernels.encoderForward(a.encoded, tokens.baseAddress!, positions, p + layout.tokenEmbedding, p + layout.positionEmbedding, B: B, T: T, C: C)
            }
        }
        for l in 0..<L {
            let w = layout.blocks[l]
            // With one kept layer, residual3 is also the next layer's input: it is read before it is rewritten.
            let k = a.kept(l)
            let residual = l == 0 ? a.encoded : a.residual3 + a.kept(l - 1) * N * C
            let ln1 = a.layerNorm1 + k * N * C, qkv = a.qkv + l * N * 3 * C, attention = a.attentionOutput + k * N * C
            let weights = a.attentionWeights + k * B * NH * T * T, projection = a.attentionProjection + k * N * C
            let residual2 = a.residual2 + k * N * C, ln2 = a.layerNorm2 + k * N * C
            let feedForward = a.feedForward + k * N * 4 * C, gelu = a.feedForwardGelu + k * N * 4 * C
            let feedForwardProjection = a.feedForwardProjection + k * N * C, residual3 = a.residual3 + k * N * C

            Kernels.layerNormForward(ln1, a.layerNorm1Mean + k * N, a.layerNorm1Rstd + k * N, residual, p + w.layerNorm1Weight, p + w.layerNorm1Bias, rows: N, C: C, epsilon: configuration.layerNormEpsilon)
            Kernels.matmulForward(qkv, ln1, p + w.attentionWeight, p + w.attentionBias, rows: N, C: C, OC: 3 * C)
            withOptionalPointer(attentionMask) { mask in Kernels.attentionForward(attention, weights, qkv, mask, B: B, T: T, C: C, NH: NH) }
            Kernels.matmulForward(projection, attention, p + w.attentionProjectionWeight, p + w.attentionProjectionBias, rows: N, C: C, OC: C)
            Kernels.residualForward(residual2, residual, projection, count: N * C)
            Kernels.layerNormForward(ln2, a.layerNorm2Mean + k * N, a.layerNorm2Rstd + k * N, residual2, p + w.layerNorm2Weight, p + w.layerNorm2Bias, rows: N, C: C, epsilon: configuration.layerNormEpsilon)
            Kernels.matmulForward(feedForward, ln2, p + w.feedForwardWeight, p + w.feedForwardBias, rows: N, C: C, OC: 4 * C)
            Kernels.geluForward(gelu, feedForward, count: N * 4 * C)
            Kernels.matmulForward(feedForwardProjection, gelu, p + w.feedForwardProjectionWeight, p + w.feedForwardProjectionBias, rows: N, C: 4 * C, OC: C)
            Kernels.residualForward(residual3, residual2, feedForwardProjection, count: N * C)
        }
        let last = a.residual3 + a.kept(L - 1) * N * C
        Kernels.layerNormForward(a.finalLayerNorm, a.finalLayerNormMean, a.finalLayerNormRstd, last, p + layout.finalLayerNormWeight, p + layout.finalLayerNormBias, rows: N, C: C, epsilon: configuration.layerNormEpsilon)
        headRows.select(logitPositions, targets: self.targets, hiddenStates: a.finalLayerNorm, width: C)
        let M = headRows.count
        if M > 0 { Kernels.tiedHeadForward(a.logits, headRows.input(a.finalLayerNorm), p + layout.tokenEmbedding, rows: M, C: C, V: V) }

        // Without backward, targets only name what `tokenLogProbabilities` reads: the loss's
        // probabilities are not held, so no loss.
        guard targets != nil, forBackward else {
            targetCount = 0
            return Output(loss: nil)
        }
        headRows.targets.withUnsafeBufferPointer { Kernels.crossEntropyForward(a.losses, a.probabilities, a.logits, $0.baseAddress!, rows: M, V: V) }
        let (loss, count) = ForwardInputs.meanLoss(a.losses, targets: headRows.targets)
        targetCount = count
        return ForwardOutput(loss: loss)
    }

    /// The logits of the last forward pass, [B,T,V] (with `logits: .targets`, the rows of the
    /// positions with a target, in order: `logitRow(ofPosition:)`).
    public var logits: UnsafeBufferPointer<Float> {
        guard let a = activations, a.holdsLogits else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: a.logits, count: headRows.count * configuration.vocabularySize)
    }

    public func logitRow(ofPosition position: Int) -> Int? { headRows.row(ofPosition: position) }

    /// The final hidden states (after the last LayerNorm) of the last forward pass, [B,T,C].
    public var finalHiddenStates: UnsafeBufferPointer<Float> {
        guard let a = activations else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: a.finalLayerNorm, count: a.batchSize * a.sequenceLength * configuration.width)
    }

    public func zeroGradients() {
        gradients?.zero()
    }

    /// Accumulates gradients into `gradients` for the last forward pass: of its mean
    /// language-model loss when it had targets, plus, when given, of whatever produced
    /// `finalHiddenGradient` ([B,T,C], d objective / d final hidden states: what a scalar head's
    /// backward returns). Call `zeroGradients` between steps, or not, to accumulate over
    /// micro-batches. Once per forward pass: the loss gradient reuses the probabilities' memory.
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
        let (V, C, L, NH) = (configuration.vocabularySize, configuration.width, configuration.layerCount, configuration.headCount)
        let (B, T) = (a.batchSize, a.sequenceLength)
        let N = B * T, M = headRows.count
        try ForwardInputs.checkBackward(targetCount: logitGradient == nil ? 0 : 1, finalHiddenGradient: finalHiddenGradient, rows: N, width: C)
        if logitGradient != nil, !a.holdsLogits { throw ModelInputError.needsForwardPass("a gradient of log-probabilities needs a forward pass that computes the logits") }
        if gradients == nil { gradients = FloatBuffer(count: layout.totalCount) }
        if activationGradients?.rows != N || activationGradients?.sequenceLength != T {
            activationGradients = ActivationGradients(configuration: configuration, rows: N, sequenceLength: T, reusing: activationGradients?.storage)
        }
        let g = gradients!.pointer, p = parameters.pointer, d = activationGradients!
        d.finalLayerNorm.update(repeating: 0, count: N * C)

        switch logitGradient {
        case .meanLoss?:
            // d logits overwrite the probabilities (see crossEntropyBackwardInPlace).
            headRows.targets.withUnsafeBufferPointer { Kernels.crossEntropyBackwardInPlace(a.probabilities, $0.baseAddress!, lossScale: 1 / Float(targetCount), rows: M, V: V) }
            Kernels.tiedHeadBackward(headRows.inputGradient(d.finalLayerNorm), g + layout.tokenEmbedding, a.probabilities, headRows.input(a.finalLayerNorm),
                                     p + layout.tokenEmbedding, rows: M, C: C, V: V)
            headRows.addInputGradient(to: d.finalLayerNorm)
            targetCount = 0
        case .perToken(let gradients, let temperature)?:
            // d logits go to the probabilities' buffer too; the logits stay, so this may repeat.
            headRows.targets.withUnsafeBufferPointer { targets in
                headRows.atRows(gradients).withUnsafeBufferPointer {
                    Kernels.logProbabilityBackward(a.probabilities, a.logits, targets.baseAddress!, $0.baseAddress!, temperature: temperature, rows: M, V: V)
                }
            }
            Kernels.tiedHeadBackward(headRows.inputGradient(d.finalLayerNorm), g + layout.tokenEmbedding, a.probabilities, headRows.input(a.finalLayerNorm),
                                     p + layout.tokenEmbedding, rows: M, C: C, V: V)
            headRows.addInputGradient(to: d.finalLayerNorm)
        case nil:
            break
        }
        if let finalHiddenGradient {
            for i in 0..<(N * C) { d.finalLayerNorm[i] += finalHiddenGradient[i] }
        }
        // Two residual-stream gradients take turns: `incoming` holds d(output of block l), the
        // other becomes d(input of block l), which is block l-1's incoming gradient.
        var incoming = d.residualA, outgoing = d.residualB
        incoming.update(repeating: 0, count: N * C)
        let lastResidual = a.residual3 + (L - 1) * N * C
        Kernels.layerNormBackward(incoming, g + layout.finalLayerNormWeight, g + layout.finalLayerNormBias, d.finalLayerNorm, lastResidual, p + layout.finalLayerNormWeight, a.finalLayerNormMean, a.finalLayerNormRstd, rows: N, C: C)

        for l in stride(from: L - 1, through: L - trainedBlockCount, by: -1) {
            let w = layout.blocks[l]
            let residual = l == 0 ? a.encoded : a.residual3 + (l - 1) * N * C
            let offsetC = l * N * C, offset3C = l * N * 3 * C, offset4C = l * N * 4 * C
            let weights = a.attentionWeights + l * B * NH * T * T
            d.zeroLayerBuffers()

            // residual3 = residual2 + feedForwardProjection: both get d(residual3).
            outgoing.update(from: incoming, count: N * C)
            Kernels.matmulBackward(d.feedForwardGelu, g + w.feedForwardProjectionWeight, g + w.feedForwardProjectionBias, incoming, a.feedForwardGelu + offset4C, p + w.feedForwardProjectionWeight, rows: N, C: 4 * C, OC: C)
            Kernels.geluBackward(d.feedForward, a.feedForward + offset4C, d.feedForwardGelu, count: N * 4 * C)
            Kernels.matmulBackward(d.layerNorm, g + w.feedForwardWeight, g + w.feedForwardBias, d.feedForward, a.layerNorm2 + offsetC, p + w.feedForwardWeight, rows: N, C: C, OC: 4 * C)
            Kernels.layerNormBackward(outgoing, g + w.layerNorm2Weight, g + w.layerNorm2Bias, d.layerNorm, a.residual2 + offsetC, p + w.layerNorm2Weight, a.layerNorm2Mean + l * N, a.layerNorm2Rstd + l * N, rows: N, C: C)
            // residual2 = residual + attentionProjection: both get d(residual2), now in `outgoing`.
            Kernels.matmulBackward(d.attentionOutput, g + w.attentionProjectionWeight, g + w.attentionProjectionBias, outgoing, a.attentionOutput + offsetC, p + w.attentionProjectionWeight, rows: N, C: C, OC: C)
            Kernels.attentionBackward(d.qkv, d.attentionOutput, a.qkv + offset3C, weights, scratch: d.attentionScratch, B: B, T: T, C: C, NH: NH)
            d.layerNorm.update(repeating: 0, count: N * C)
            Kernels.matmulBackward(d.layerNorm, g + w.attentionWeight, g + w.attentionBias, d.qkv, a.layerNorm1 + offsetC, p + w.attentionWeight, rows: N, C: C, OC: 3 * C)
            Kernels.layerNormBackward(outgoing, g + w.layerNorm1Weight, g + w.layerNorm1Bias, d.layerNorm, residual, p + w.layerNorm1Weight, a.layerNorm1Mean + l * N, a.layerNorm1Rstd + l * N, rows: N, C: C)
            swap(&incoming, &outgoing)
        }
        guard trainedBlockCount == L else { return }
        tokens.withUnsafeBufferPointer { tokens in
            withOptionalPointer(positions) { positions in
                Kernels.encoderBackward(g + layout.tokenEmbedding, g + layout.positionEmbedding, incoming, tokens.baseAddress!, positions, B: B, T: T, C: C)
            }
        }
    }

}

/// Calls `body` with a pointer to the array's elements, or nil for a nil array.
func withOptionalPointer<Element, Result>(_ array: [Element]?, _ body: (UnsafePointer<Element>?) throws -> Result) rethrows -> Result {
    guard let array else { return try body(nil) }
    return try array.withUnsafeBufferPointer { try body($0.baseAddress) }
}

extension GPT2Model {
    /// GPT-2's initialization, seeded: weights normal with standard deviation 0.02, the two
    /// projections into the residual stream scaled by 1/sqrt(2 L) (GPT-2 paper, section 2.3),
    /// biases zero, LayerNorm gains one.
    public func initializeParameters(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let residualScale = 1 / Float(2 * configuration.layerCount).squareRoot()
        let p = parameters.pointer
        for tensor in layout.tensors {
            let isLayerNormGain = tensor.name.hasSuffix("ln_1.weight") || tensor.name.hasSuffix("ln_2.weight") || tensor.name.hasSuffix("ln_f.weight")
            if isLayerNormGain {
                for i in tensor.range { p[i] = 1 }
            } else if tensor.shape.count == 1 {
                for i in tensor.range { p[i] = 0 }
            } else {
                let isResidualProjection = tensor.name.hasSuffix("attn.c_proj.weight") || tensor.name.hasSuffix("mlp.c_proj.weight")
                let standardDeviation: Float = 0.02 * (isResidualProjection ? residualScale : 1)
                for i in tensor.range { p[i] = random.nextNormal() * standardDeviation }
            }
        }
    }
}
