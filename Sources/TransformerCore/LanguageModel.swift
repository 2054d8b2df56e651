/// The result of a forward pass.
public struct ForwardOutput: Sendable {
    /// Mean cross-entropy over the positions with a target; nil without targets.
    public let loss: Float?
}

/// What every block variant of the core offers the training stages and sampling: a forward
/// pass with targets, masks and positions; backward of the loss and of a scalar head's gradient;
/// the parameters and gradients in one buffer each; sampling with a key/value cache.
public protocol LanguageModel: AnyObject {
    var vocabularySize: Int { get }
    var contextLength: Int { get }
    /// The width of the final hidden states ([B,T,C]): what a scalar head reads.
    var finalHiddenWidth: Int { get }
    /// How many transformer blocks the trunk stacks.
    var blockCount: Int { get }
    var parameters: FloatBuffer { get }
    var gradients: FloatBuffer? { get }
    var parameterCount: Int { get }
    /// Floats held for the last forward and backward pass.
    var activationFloatCount: Int { get }
    /// The logits of the last forward pass: [B*T, V], or with `logits: .targets` one row for each
    /// position with a target, in order.
    var logits: UnsafeBufferPointer<Float> { get }
    /// The row of `logits` that holds a flat position's (row * T + t), nil where the last
    /// forward pass did not run the output head there.
    func logitRow(ofPosition position: Int) -> Int?
    var finalHiddenStates: UnsafeBufferPointer<Float> { get }
    /// The parameter tensors, for the optimizer (which decays matrices) and checkpoints.
    var parameterTensors: [ParameterLayout.Tensor] { get }

    /// `forBackward` false keeps one layer's activations (and every layer's keys and values):
    /// for sampling, or for scoring targets with `tokenLogProbabilities` (a policy stage's
    /// reference), with neither a loss nor a backward pass after.
    /// `logits` says where the output head runs (`LogitPositions`): at every position, only
    /// where there is a target (all a loss or log-probabilities need), or nowhere (a reward model
    /// or a value head reads the final hidden states only, and the head's [B*T, V] floats are not
    /// held).
    /// `attentionMask` values are those of `AttentionMask` (0/1 padding, or packed branches).
    @discardableResult
    func forward(tokens: [Int32], targets: [Int32]?, attentionMask: [UInt8]?, positionIDs: [Int32]?,
                 batchSize: Int, sequenceLength: Int, forBackward: Bool, logits: LogitPositions) throws -> ForwardOutput
    /// How many of the top blocks backward reaches: all by default. Fewer trains only those
    /// blocks, the final norm and the output head, and backward stops below the lowest of them
    /// (the embeddings then train only as a tied output head).
    var trainedBlockCount: Int { get }
    func setTrainedBlockCount(_ count: Int) throws
    /// The tensors training updates at the current trained block count: what the optimizer is
    /// given, so that frozen tensors are never touched (weight decay included).
    var trainedParameterTensors: [ParameterLayout.Tensor] { get }
    func backward(finalHiddenGradient: [Float]?) throws
    /// log p(target) of each position of the last forward pass under softmax(logits /
    /// `temperature`) ([B*T]; 0 where the forward pass had no target): what SFT, PPO, RLOO and
    /// DPO read, with no stage reaching into `logits`.
    func tokenLogProbabilities(temperature: Float) throws -> [Float]
    /// Accumulates gradients of a loss whose derivative with respect to each position's
    /// log p(target) at `temperature` is `logProbabilityGradients` ([B*T], zero where no
    /// target), plus `finalHiddenGradient` when given: the general backward of the policy
    /// stages (the masked cross-entropy of SFT is -1/count on the answer's tokens).
    func backward(logProbabilityGradients: [Float], temperature: Float, finalHiddenGradient: [Float]?) throws
    func zeroGradients()
    /// Samples a continuation of each prompt (decoded together); `observer` hears each token
    /// as it is picked and can end its sequence there.
    func sample(prompts: [[Int32]], options: SamplingOptions, observer: TokenObserver?) throws -> [SampledSequence]
}

/// Told each token as sampling picks it: the sequence's index, the token and its
/// log-probability. Returns false to end that sequence there (a stop string was written, the
/// client went away); what it picked so far is kept.
public typealias TokenObserver = (_ sequence: Int, _ token: Int32, _ logProbability: Float) -> Bool

extension LanguageModel {
    public func sample(prompts: [[Int32]], options: SamplingOptions) throws -> [SampledSequence] {
        try sample(prompts: prompts, options: options, observer: nil)
    }

    @discardableResult
    public func forward(tokens: [Int32], targets: [Int32]?, attentionMask: [UInt8]?, positionIDs: [Int32]?,
                        batchSize: Int, sequenceLength: Int, forBackward: Bool) throws -> ForwardOutput {
        try forward(tokens: tokens, targets: targets, attentionMask: attentionMask, positionIDs: positionIDs,
                    batchSize: batchSize, sequenceLength: sequenceLength, forBackward: forBackward, logits: .every)
    }

    /// The most likely next token after each step, recomputing the whole prefix each time (the
    /// check of the key/value cache's sampling).
    public func greedyContinuation(of prompt: [Int32], newTokens: Int) throws -> [Int32] {
        var sequence = prompt
        let V = vocabularySize
        for _ in 0..<newTokens {
            let window = Array(sequence.suffix(contextLength))
            try forward(tokens: window, targets: nil, attentionMask: nil, positionIDs: nil, batchSize: 1, sequenceLength: window.count, forBackward: false)
            let row = logits.baseAddress! + (window.count - 1) * V
            var best = 0
            for i in 1..<V where row[i] > row[best] { best = i }
            sequence.append(Int32(best))
        }
        return Array(sequence.dropFirst(prompt.count))
    }

    /// The entropy in nats of the next-token distribution softmax(logits / `temperature`) at
    /// each of `positions` (flat indices row * T + t) of the last forward pass: what the policy
    /// stages report beside the KL (TRL's `entropy`).
    public func tokenEntropies(temperature: Float, positions: [Int]) throws -> [Float] {
        guard temperature > 0, temperature.isFinite else { throw SamplingError.invalidOption(name: "the temperature", rule: "must be positive to score tokens") }
        let V = vocabularySize, held = logits
        guard let base = held.baseAddress, held.count >= V else { throw ModelInputError.needsForwardPass("entropies need a forward pass that computes the logits") }
        var rows: [Int] = []
        rows.reserveCapacity(positions.count)
        for position in positions {
            guard let row = logitRow(ofPosition: position) else {
                throw ModelInputError.needsForwardPass("position \(position) has no logits in the last forward pass (outside it, or without a target where only targets' were computed)")
            }
            rows.append(row)
        }
        var out = [Float](repeating: 0, count: positions.count)
        out.withUnsafeMutableBufferPointer { out in
            rows.withUnsafeBufferPointer { Kernels.entropies(out.baseAddress!, base, $0.baseAddress!, temperature: temperature, rows: positions.count, V: V) }
        }
        return out
    }
}

extension GPT2Model {
    public var parameterTensors: [ParameterLayout.Tensor] { layout.tensors }
    public var vocabularySize: Int { configuration.vocabularySize }
    public var contextLength: Int { configuration.contextLength }
    public var finalHiddenWidth: Int { configuration.width }
    public var blockCount: Int { configuration.layerCount }
}

extension LlamaModel {
    public var parameterTensors: [ParameterLayout.Tensor] { layout.tensors }
    public var vocabularySize: Int { configuration.vocabularySize }
    public var contextLength: Int { configuration.contextLength }
    public var finalHiddenWidth: Int { configuration.width }
    public var blockCount: Int { configuration.layerCount }
}

extension AdamW {
    /// An optimizer for the tensors the model trains now (`trainedParameterTensors`).
    public convenience init(model: some LanguageModel, hyperparameters: Hyperparameters = Hyperparameters()) {
        self.init(tensors: model.trainedParameterTensors, parameterCount: model.parameterCount, hyperparameters: hyperparameters)
    }
}
